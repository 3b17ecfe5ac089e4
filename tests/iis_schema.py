"""The part of IIS's configuration schema our web.config files use, to check them against.

Each entry maps an element path (from ``configuration``) to the attributes and
child elements IIS's schema defines for it. Sources, all from the IIS
configuration reference (github.com/MicrosoftDocs/iis-docs):

* handlers/add — iis/configuration/system.webServer/handlers/add.md ("Attributes");
  ``accessPolicy`` and the add/remove/clear collection — handlers/index.md.
* httpPlatform — iis/extensions/httpplatformhandler/
  httpplatformhandler-configuration-reference.md ("Configuration Attributes",
  "Child Elements": environmentVariables, recycleOnFileChange/file).
* requestFiltering/requestLimits/headerLimits/add — iis/configuration/
  system.webServer/security/requestFiltering/requestLimits/headerLimits/add.md
  (``header``, ``sizeLimit``); requestLimits' own attributes — requestLimits/index.md.
* ipSecurity and ipSecurity/add — iis/configuration/system.webServer/security/
  ipSecurity/index.md and add.md.
* rewrite (URL Rewrite module: rules/rule/match/conditions/add/serverVariables/
  set/action, allowedServerVariables) — iis/extensions/url-rewrite-module/
  url-rewrite-module-configuration-reference.md, url-rewrite-module-20-
  configuration-reference.md ("Setting Request Headers and Server Variables")
  and setting-http-request-headers-and-iis-server-variables.md.
* appSettings/add — the .NET configuration schema (``key``, ``value``), the
  section wfastcgi 3.0.0 copies into ``os.environ``.

Only the sections edgeclaims' files use are listed: anything else in a
web.config is reported, so a typo ("processPerApplication") cannot pass.
``fastCgi`` is not among them: applicationHost.config declares it
``allowDefinition="AppHostOnly"``, so a web.config holding it gets HTTP
500.19 (it is set with appcmd, docs/iis.md). ``APPHOST_ONLY`` names it for a
clearer report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["APPHOST_ONLY", "ENUMS", "SCHEMA", "ElementSchema"]


@dataclass(frozen=True)
class ElementSchema:
    attributes: frozenset[str] = field(default_factory=frozenset)
    children: frozenset[str] = field(default_factory=frozenset)


def _e(attributes: str = "", children: str = "") -> ElementSchema:
    return ElementSchema(frozenset(attributes.split()), frozenset(children.split()))


_WS = "configuration/system.webServer"

SCHEMA: dict[str, ElementSchema] = {
    "configuration": _e(children="system.webServer appSettings"),
    # appSettings: the .NET <appSettings> section (add key/value; clear; remove key).
    "configuration/appSettings": _e("file configSource", "add clear remove"),
    "configuration/appSettings/add": _e("key value"),
    "configuration/appSettings/remove": _e("key"),
    "configuration/appSettings/clear": _e(),
    _WS: _e(children="handlers httpPlatform security rewrite"),
    # handlers/add.md, handlers/index.md
    f"{_WS}/handlers": _e("accessPolicy", "add clear remove"),
    f"{_WS}/handlers/add": _e(
        "allowPathInfo modules name path preCondition requireAccess resourceType "
        "responseBufferLimit scriptProcessor type verb"
    ),
    f"{_WS}/handlers/remove": _e("name"),
    f"{_WS}/handlers/clear": _e(),
    # httpplatformhandler-configuration-reference.md
    f"{_WS}/httpPlatform": _e(
        "processPath arguments startupTimeLimit startupRetryCount rapidFailsPerMinute "
        "requestTimeout stdoutLogEnabled stdoutLogFile processesPerApplication "
        "forwardWindowsAuthToken",
        "environmentVariables recycleOnFileChange",
    ),
    f"{_WS}/httpPlatform/environmentVariables": _e(children="environmentVariable clear remove"),
    f"{_WS}/httpPlatform/environmentVariables/environmentVariable": _e("name value"),
    f"{_WS}/httpPlatform/environmentVariables/remove": _e("name"),
    f"{_WS}/httpPlatform/environmentVariables/clear": _e(),
    f"{_WS}/httpPlatform/recycleOnFileChange": _e(children="file"),
    f"{_WS}/httpPlatform/recycleOnFileChange/file": _e("path"),
    f"{_WS}/security": _e(children="requestFiltering ipSecurity"),
    # requestFiltering/index.md, requestLimits/index.md, headerLimits/add.md
    f"{_WS}/security/requestFiltering": _e(
        "allowDoubleEscaping allowHighBitCharacters removeServerHeader unescapeQueryString",
        "requestLimits",
    ),
    f"{_WS}/security/requestFiltering/requestLimits": _e(
        "maxAllowedContentLength maxUrl maxQueryString", "headerLimits"
    ),
    f"{_WS}/security/requestFiltering/requestLimits/headerLimits": _e(children="add clear remove"),
    f"{_WS}/security/requestFiltering/requestLimits/headerLimits/add": _e("header sizeLimit"),
    f"{_WS}/security/requestFiltering/requestLimits/headerLimits/remove": _e("header"),
    f"{_WS}/security/requestFiltering/requestLimits/headerLimits/clear": _e(),
    # ipSecurity/index.md, ipSecurity/add.md
    f"{_WS}/security/ipSecurity": _e(
        "allowUnlisted denyAction enableProxyMode enableReverseDns", "add clear remove"
    ),
    f"{_WS}/security/ipSecurity/add": _e("allowed domainName ipAddress subnetMask"),
    f"{_WS}/security/ipSecurity/remove": _e("domainName ipAddress subnetMask"),
    f"{_WS}/security/ipSecurity/clear": _e(),
    # URL Rewrite module configuration reference (1.x and 2.0)
    f"{_WS}/rewrite": _e(children="rules allowedServerVariables"),
    f"{_WS}/rewrite/allowedServerVariables": _e(children="add clear remove"),
    f"{_WS}/rewrite/allowedServerVariables/add": _e("name"),
    f"{_WS}/rewrite/rules": _e(children="rule clear remove"),
    f"{_WS}/rewrite/rules/remove": _e("name"),
    f"{_WS}/rewrite/rules/clear": _e(),
    f"{_WS}/rewrite/rules/rule": _e(
        "name enabled patternSyntax stopProcessing",
        "match conditions serverVariables action",
    ),
    f"{_WS}/rewrite/rules/rule/match": _e("url ignoreCase negate"),
    f"{_WS}/rewrite/rules/rule/conditions": _e(
        "logicalGrouping trackAllCaptures", "add clear remove"
    ),
    f"{_WS}/rewrite/rules/rule/conditions/add": _e("input matchType pattern ignoreCase negate"),
    f"{_WS}/rewrite/rules/rule/serverVariables": _e(children="set clear remove"),
    f"{_WS}/rewrite/rules/rule/serverVariables/set": _e("name value replace"),
    f"{_WS}/rewrite/rules/rule/action": _e(
        "type url appendQueryString logRewrittenUrl redirectType statusCode subStatusCode "
        "statusReason statusDescription"
    ),
}

#: system.webServer sections applicationHost.config declares AppHostOnly (500.19 in a web.config).
APPHOST_ONLY: frozenset[str] = frozenset({"fastCgi", "globalModules"})

#: Enumerated attribute values (same sources); element path + "@" + attribute.
ENUMS: dict[str, frozenset[str]] = {
    f"{_WS}/handlers/add@resourceType": frozenset({"File", "Directory", "Either", "Unspecified"}),
    f"{_WS}/handlers/add@requireAccess": frozenset({"None", "Read", "Write", "Script", "Execute"}),
    f"{_WS}/security/ipSecurity@denyAction": frozenset(
        {"AbortRequest", "Unauthorized", "Forbidden", "NotFound"}
    ),
    f"{_WS}/rewrite/rules/rule@patternSyntax": frozenset({"ECMAScript", "Wildcard", "ExactMatch"}),
    f"{_WS}/rewrite/rules/rule/conditions@logicalGrouping": frozenset({"MatchAll", "MatchAny"}),
    f"{_WS}/rewrite/rules/rule/conditions/add@matchType": frozenset(
        {"Pattern", "IsFile", "IsDirectory"}
    ),
    f"{_WS}/rewrite/rules/rule/action@type": frozenset(
        {"None", "Rewrite", "Redirect", "CustomResponse", "AbortRequest"}
    ),
}
