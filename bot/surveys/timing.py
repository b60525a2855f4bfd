"""When a return visit is asked, reminded and given up: the settings, and quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from bot import settings as config
from bot.sms.quiet_hours import release_time
from bot.sms.settings import QuietHours


@dataclass(frozen=True)
class Timing:
    delay_s: float = 7200.0  # resolved -> asked
    reminder_s: float = 172800.0  # asked -> reminded; reminded -> no_response
    window_s: float = 1209600.0  # due -> survey closed
    quiet: QuietHours | None = None  # the SMS quiet hours: nobody is asked in them

    @classmethod
    def from_settings(cls, settings: config.Settings | None = None) -> Timing:
        s = settings or config.get()
        return cls(
            delay_s=s.return_visit_delay_s,
            reminder_s=s.return_visit_reminder_s,
            window_s=s.survey_window_s,
            quiet=QuietHours.parse(s.sms_quiet_hours, s.timezone),
        )

    def out_of_quiet(self, at: float) -> float:
        """`at`, or the end of the quiet period containing it."""
        release = release_time(self.quiet, datetime.fromtimestamp(at, timezone.utc))
        return release.timestamp() if release is not None else at

    def due(self, resolved_at: float) -> float:
        return self.out_of_quiet(resolved_at + self.delay_s)

    def reminder_due(self, sent_at: float) -> float:
        return self.out_of_quiet(sent_at + self.reminder_s)
