"""`python -m bot.desk` starts the desk service."""

import logging
import sys

from aiohttp import web

from bot import logmask
from bot import settings as config
from bot.desk.app import create_app

if __name__ == "__main__":
    logmask.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = config.get()
    except config.SettingsError as e:
        sys.exit(f"bot.desk: {e}")
    web.run_app(create_app(settings), host=settings.desk_host, port=settings.desk_port)
