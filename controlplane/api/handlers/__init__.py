"""HTTP handlers of the API server, one blueprint per area (Flask's app-factory pattern).

health (/healthz, /livez, /readyz, /version), discovery (/api, /apis), openapi
(/openapi/v3) and resources (everything under /api/v1 and /apis/<g>/<v>).
"""
