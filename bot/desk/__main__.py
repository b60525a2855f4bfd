"""`python -m bot.desk` starts the desk service."""

import logging
import sys

from aiohttp import web

from bot import logmask
from bot import settings as config
from bot.desk.app import create_app
from bot.ops import logs

if __name__ == "__main__":
    logmask.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = config.get()
    except config.SettingsError as e:
        sys.exit(f"bot.desk: {e}")
    logs.apply(settings.log_format)  # KEFU_LOG_FORMAT=json: aiohttp's access log too
    web.run_app(
        create_app(settings),
        host=settings.desk_host,
        port=settings.desk_port,
        print=logging.getLogger("bot.desk").info,  # "Running on …" as a log line, not print
    )
