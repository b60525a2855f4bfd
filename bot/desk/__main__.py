"""`python -m bot.desk` starts the desk service."""

import logging

from aiohttp import web

from bot import logmask
from bot.config import Settings
from bot.desk.app import create_app

if __name__ == "__main__":
    logmask.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    web.run_app(create_app(settings), host=settings.desk_host, port=settings.desk_port)
