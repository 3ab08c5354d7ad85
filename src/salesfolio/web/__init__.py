"""The web app: FastAPI, server-rendered Jinja2 pages, HTMX, Plotly. Build it with :func:`app.create_app`."""
