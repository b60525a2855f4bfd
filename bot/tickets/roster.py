"""首问负责: the on-duty roster (content/policy/roster.yml) and owner assignment.

Round-robin counters live in Redis (INCR), so several processes share one rotation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from bot.tickets.errors import PolicyError
from bot.tickets.policy import ROSTER_FILE, bilingual, load_yaml

log = logging.getLogger(__name__)

# Why an owner was chosen (stored in the ticket history).
PREVIOUS_OWNER = "previous_owner"
ROUND_ROBIN = "round_robin"
FALLBACK_TEAM = "fallback_team"


@dataclass(frozen=True)
class Agent:
    id: str
    name: dict[str, str]
    on_duty: bool


@dataclass(frozen=True)
class Team:
    id: str
    name: dict[str, str]
    agents: tuple[str, ...]


@dataclass(frozen=True)
class Assignment:
    owner: str | None
    reason: str | None


class Roster:
    def __init__(
        self,
        categories: dict[str, tuple[dict[str, str], str]],
        teams: dict[str, Team],
        agents: dict[str, Agent],
        fallback_team: str,
    ) -> None:
        self._categories = categories  # id -> (label, team id)
        self.teams = teams
        self.agents = agents
        self.fallback_team = fallback_team

    @classmethod
    def from_yaml(cls, path: Path | str) -> Roster:
        data = load_yaml(path)
        agents: dict[str, Agent] = {}
        for agent_id, item in (data.get("agents") or {}).items():
            if not isinstance(item, dict):
                raise PolicyError(f"{path}: agent {agent_id} must be a mapping")
            agents[str(agent_id)] = Agent(
                str(agent_id),
                bilingual(item.get("name"), f"{path}: agent {agent_id} name"),
                bool(item.get("on_duty", False)),
            )
        teams: dict[str, Team] = {}
        for team_id, item in (data.get("teams") or {}).items():
            members = tuple(str(a) for a in (item or {}).get("agents") or ())
            unknown = [a for a in members if a not in agents]
            if unknown:
                raise PolicyError(f"{path}: team {team_id} lists unknown agents {unknown}")
            teams[str(team_id)] = Team(
                str(team_id), bilingual(item.get("name"), f"{path}: team {team_id}"), members
            )
        categories: dict[str, tuple[dict[str, str], str]] = {}
        for cat_id, item in (data.get("categories") or {}).items():
            team = str((item or {}).get("team"))
            if team not in teams:
                raise PolicyError(f"{path}: category {cat_id} routes to unknown team {team}")
            categories[str(cat_id)] = (bilingual(item.get("label"), f"{path}: {cat_id}"), team)
        fallback = str(data.get("fallback_team", ""))
        if fallback not in teams:
            raise PolicyError(f"{path}: fallback_team must be one of the teams")
        if not categories:
            raise PolicyError(f"{path}: no categories")
        return cls(categories, teams, agents, fallback)

    @classmethod
    def from_dir(cls, policy_dir: Path | str) -> Roster:
        return cls.from_yaml(Path(policy_dir) / ROSTER_FILE)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self._categories)

    def category_label(self, category: str, language: str) -> str:
        return self._categories[category][0][language]

    def team_for(self, category: str) -> Team:
        return self.teams[self._categories[category][1]]

    def on_duty(self, team: Team) -> list[Agent]:
        return [self.agents[a] for a in team.agents if self.agents[a].on_duty]

    def display_name(self, agent_id: str | None, language: str) -> str | None:
        agent = self.agents.get(agent_id or "")
        return agent.name[language] if agent else None


class OwnerPicker:
    """Chooses the owner of a new ticket."""

    def __init__(self, roster: Roster, redis: aioredis.Redis, prefix: str = "kefu:roster") -> None:
        self._roster = roster
        self._r = redis
        self._prefix = prefix

    async def pick(self, category: str, previous_owner: str | None = None) -> Assignment:
        # The customer's open case already has someone responsible: keep them (首问负责),
        # unless they are off duty, when a colleague on duty takes the new one.
        if previous_owner:
            agent = self._roster.agents.get(previous_owner)
            if agent and agent.on_duty:
                return Assignment(agent.id, PREVIOUS_OWNER)
        team = self._roster.team_for(category)
        for candidate, reason in (
            (team, ROUND_ROBIN),
            (self._roster.teams[self._roster.fallback_team], FALLBACK_TEAM),
        ):
            on_duty = self._roster.on_duty(candidate)
            if on_duty:
                turn = await self._r.incr(f"{self._prefix}:rr:{candidate.id}")
                return Assignment(on_duty[(turn - 1) % len(on_duty)].id, reason)
        log.warning("nobody on duty for category %s; ticket left unassigned", category)
        return Assignment(None, None)
