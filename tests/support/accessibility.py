"""axe-core (npm devDependency, node_modules/axe-core) run in a Playwright page."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from bot.settings import PROJECT_ROOT

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA, plus axe's best practices (reported, gated by impact).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = ("serious", "critical")


def axe_context(browser: Browser, locale: str = "zh-CN", **options: Any) -> BrowserContext:
    """A browser context whose pages carry axe-core. It is injected as an init script
    (the DevTools protocol, not a <script> tag), so the pages' CSP stays as served."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} missing; run npm ci")
    context = browser.new_context(locale=locale, **options)
    context.add_init_script(path=str(AXE))
    return context


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now, each with its impact and nodes."""
    violations: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
          const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
          return result.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary})),
          }));
        }""",
        TAGS,
    )
    return violations


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['impact']}: {v['id']} ({v['help']})")
        lines.extend(f"    {n['target']}: {n['summary']}" for n in v["nodes"][:5])
    return "\n".join(lines) or "none"
