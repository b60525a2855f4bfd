"""Notices: outage broadcasts, subscriptions, bill reminders, and what a reply refers to.

Every notice is an outbox message (bot.sms.outbox, kind "notice" or "reminder"); this
package decides who gets which text when, and keeps no schedule of its own.
"""
