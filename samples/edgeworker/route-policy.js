// The origin's route policy, as `edgeclaims export-policy` writes it
// (Policy.export(): format "edgeclaims-policy", version 2). Regenerate it
// whenever the origin's [edgeclaims.roles], [edgeclaims.permissions],
// [edgeclaims.routes] or public_paths change (README.md, "Route policy").
//
// This sample matches the sample apps: /healthz public, /admin/* for the
// role admin (groups=okta-admins or roles=Admin), everything else for any
// verified identity.

export default {
  "format": "edgeclaims-policy",
  "version": 2,
  "roles": [
    {
      "name": "admin",
      "any": [
        {
          "claim": [
            "groups"
          ],
          "equals": "okta-admins"
        },
        {
          "claim": [
            "roles"
          ],
          "equals": "Admin"
        }
      ],
      "all": null,
      "includes": [],
      "grants": [
        "admin"
      ]
    }
  ],
  "permissions": [
    {
      "role": "admin",
      "permissions": [
        "users:manage"
      ]
    }
  ],
  "routes": [
    {
      "route": "/admin/*",
      "methods": null,
      "path": "/admin/*",
      "regex": "^/admin(?:/[\\s\\S]*)?$",
      "kind": "roles",
      "roles": [
        "admin"
      ],
      "permissions": []
    },
    {
      "route": "/healthz",
      "methods": null,
      "path": "/healthz",
      "regex": "^/healthz$",
      "kind": "public",
      "roles": [],
      "permissions": []
    }
  ],
  "public_paths": [
    {
      "route": "/healthz",
      "methods": null,
      "path": "/healthz",
      "regex": "^/healthz$",
      "kind": "public",
      "roles": [],
      "permissions": []
    }
  ],
  "default": {
    "kind": "authenticated",
    "roles": [],
    "permissions": []
  },
  "overage_claims": [
    "groups",
    "roles"
  ]
};
