"""gunicorn's settings for app_flask (read from the working folder): each worker opens
its database connection and upstream session as it starts, so no measured request pays
for them (the FastAPI app does the same in its lifespan)."""


def post_worker_init(worker):
    import app_flask

    app_flask.warm()
