"""Deprecated: use bot.settings (kept until the last importers move; then deleted)."""

from bot.settings import PROJECT_ROOT, Settings

__all__ = ["PROJECT_ROOT", "Settings"]
