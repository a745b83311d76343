"""The ``dlcs`` command: Flask's CLI on the app, with the commands of :mod:`app.cli`."""

from flask.cli import FlaskGroup

from app.factory import create_app

main = FlaskGroup(create_app=create_app, help="The DLCS Image API server.")
