"""The organisation and flow configuration file (`FLYWHEEL_CONFIG`, YAML or TOML).

It says who reports to whom, where each person is (time zone, language), and how flows run. Every problem
is reported at once with where it is, so an admin can fix the file in one go.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from conversations.answers import Text
from conversations.calendar import CalendarSettings, is_known_country, parse_hours
from conversations.feedback import FEEDBACK
from conversations.flows import Ask, Flow
from conversations.kudos import KudosSettings, KudosValue
from conversations.monthly_review import MONTHLY_REVIEW
from conversations.quarterly_talk import QUARTERLY_TALK
from conversations.render import LOCALES, normalize_locale
from conversations.replies import UPWARD_MIN
from conversations.retro import ANONYMOUS_MIN, RETRO
from conversations.schedule import (
    MonthlySchedule,
    WeeklySchedule,
    is_valid_zone,
    parse_duration,
    parse_time_of_day,
    parse_weekday,
)
from conversations.weekly_checkin import WEEKLY_CHECKIN

DEFAULT_FLOWS: Mapping[str, Flow] = {
    f.name: f for f in (WEEKLY_CHECKIN, MONTHLY_REVIEW, RETRO, FEEDBACK, QUARTERLY_TALK)
}

DEMO_CONFIG = "demo_org.yaml"

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} has {len(problems)} problem{'s' if len(problems) != 1 else ''}:\n{lines}")


@dataclass(frozen=True)
class MemberSpec:
    handle: str
    name: str
    timezone: str
    locale: str
    manager: str | None = None
    team: str | None = None
    email: str | None = None
    slack: str | None = None
    feishu: str | None = None
    country: str | None = None  # whose public holidays they keep; None: `defaults.country`

    def accounts(self) -> list[tuple[str, str]]:
        """(platform, id) of every chat account this entry names, the console's (the handle) first."""
        named = ((platform, getattr(self, platform)) for platform in ACCOUNT_KEYS)
        return [("console", self.handle), *((platform, user_id) for platform, user_id in named if user_id)]

    def account(self, platform: str) -> str | None:
        return dict(self.accounts()).get(platform)


ACCOUNT_KEYS = ("slack", "feishu")  # the platforms a member entry may give an account on: `slack: U0…`, `feishu: ou_…`


@dataclass(frozen=True)
class OrgConfig:
    source: str
    members: tuple[MemberSpec, ...] = ()
    flows: Mapping[str, Flow] = field(default_factory=lambda: dict(DEFAULT_FLOWS))
    question_texts: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    kudos: KudosSettings = field(default_factory=KudosSettings)
    skip_level: bool = False  # the manager's manager also gets their reports' reports in the digest
    admins: tuple[str, ...] = ()  # handles of the people who may change reporting lines and hear of send failures
    retro_anonymous_min: int = ANONYMOUS_MIN  # respondents an anonymous retro needs before anything of it is shown
    upward_min: int = UPWARD_MIN  # `feedback.upward_min`: reports who must answer before a manager sees upward feedback
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    goals_visible_to_team: bool = False  # `goals.visible_to_team`: teammates see each other's goals (never answers)
    locale: str | None = None  # `defaults.locale`: the organisation's language, for channels (None: not given)


_MEMBER_KEYS = {"handle", "name", "timezone", "locale", "manager", "team", "email", "slack", "feishu", "country"}
_FLOW_KEYS = {
    "enabled",
    "day",
    "time",
    "closes_day",
    "closes_time",
    "week",
    "window",
    "reminder_after",
    "snooze",
    "catch_up_within",
    "questions",
    "extra_questions",
}


def demo_config_path() -> Path:
    return Path(str(resources.files("bot") / "data" / DEMO_CONFIG))


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), [f"file not found (FLYWHEEL_CONFIG={p})"])
    text = p.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(p), [f"not valid {'TOML' if p.suffix.lower() == '.toml' else 'YAML'}: {exc}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(p), ["the top level must be a mapping with `members:` and optionally `flows:`"])
    return data


def load_config(path: str | Path, *, default_timezone: str = "UTC", default_locale: str = "en") -> OrgConfig:
    return parse_config(
        read_config_file(path), source=str(path), default_timezone=default_timezone, default_locale=default_locale
    )


def parse_config(
    data: Mapping[str, Any], *, source: str, default_timezone: str = "UTC", default_locale: str = "en"
) -> OrgConfig:
    problems: list[str] = []
    unknown = set(data) - {
        "defaults",
        "members",
        "flows",
        "kudos",
        "digest",
        "admins",
        "retro",
        "calendar",
        "feedback",
        "goals",
    }
    if unknown:
        problems.append(
            f"unknown top-level key(s): {', '.join(sorted(unknown))} "
            "(expected defaults, members, flows, kudos, digest, admins, retro, calendar, feedback, goals)"
        )
    goals = data.get("goals") or {}
    if (
        not isinstance(goals, dict)
        or set(goals) - {"visible_to_team"}
        or not isinstance(goals.get("visible_to_team", False), bool)
    ):
        problems.append("`goals` accepts only `visible_to_team: true|false`")
        goals = {}
    admins = data.get("admins") or []
    if not isinstance(admins, list) or not all(isinstance(a, str) for a in admins):
        problems.append("`admins` must be a list of member handles")
        admins = []
    digest = data.get("digest") or {}
    if not isinstance(digest, dict) or set(digest) - {"skip_level"}:
        problems.append("`digest` accepts only `skip_level: true|false`")
        digest = {}
    defaults = data.get("defaults") or {}
    tz_default = str(defaults.get("timezone", default_timezone))
    locale_default = str(defaults.get("locale", default_locale))
    members = _parse_members(data.get("members") or [], tz_default, locale_default, problems)
    flows, texts = _parse_flows(data.get("flows") or {}, problems)
    kudos = _parse_kudos(data.get("kudos") or {}, problems)
    anonymous_min = _parse_retro(data.get("retro") or {}, problems)
    upward_min = _parse_feedback(data.get("feedback") or {}, problems)
    calendar = _parse_calendar(data.get("calendar") or {}, defaults.get("country"), problems)
    if problems:
        raise ConfigError(source, problems)
    return OrgConfig(
        source=source,
        members=tuple(members),
        flows=flows,
        question_texts=texts,
        kudos=kudos,
        skip_level=bool(digest.get("skip_level", False)),
        admins=tuple(a.strip().lower() for a in admins),
        retro_anonymous_min=anonymous_min,
        upward_min=upward_min,
        calendar=calendar,
        goals_visible_to_team=bool(goals.get("visible_to_team", False)),
        locale=normalize_locale(str(defaults["locale"]), default="") or None if "locale" in defaults else None,
    )


def _parse_retro(raw: Any, problems: list[str]) -> int:
    if not isinstance(raw, dict):
        problems.append("`retro` must be a mapping (anonymous_min)")
        return ANONYMOUS_MIN
    for key in sorted(set(raw) - {"anonymous_min"}):
        problems.append(f"retro: unknown key `{key}` (expected anonymous_min)")
    value = raw.get("anonymous_min", ANONYMOUS_MIN)
    if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 100:
        problems.append(
            f"retro.anonymous_min must be a whole number from 2 to 100 (how many people must answer an "
            f"anonymous retrospective before anything of it is shown), not {value!r}"
        )
        return ANONYMOUS_MIN
    return value


def _parse_feedback(raw: Any, problems: list[str]) -> int:
    if not isinstance(raw, dict):
        problems.append("`feedback` must be a mapping (upward_min)")
        return UPWARD_MIN
    for key in sorted(set(raw) - {"upward_min"}):
        problems.append(f"feedback: unknown key `{key}` (expected upward_min)")
    value = raw.get("upward_min", UPWARD_MIN)
    if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 100:
        problems.append(
            f"feedback.upward_min must be a whole number from 2 to 100 (how many reports must give upward feedback "
            f"before their manager sees any of it), not {value!r}"
        )
        return UPWARD_MIN
    return value


def _country(raw: Any, where: str, problems: list[str]) -> str | None:
    if raw is None or raw == "":
        return None
    code = str(raw).strip().upper()
    if not is_known_country(code):
        problems.append(f"{where}: `{raw}` is not a country code the holiday calendar knows (e.g. GB, US, CN, DE)")
        return None
    return code


def _dates(raw: Any, where: str, problems: list[str]) -> frozenset[date]:
    if not isinstance(raw, list):
        problems.append(f"{where}: must be a list of dates (YYYY-MM-DD)")
        return frozenset()
    out = set()
    for i, value in enumerate(raw, start=1):
        if isinstance(value, date) and not isinstance(value, datetime):
            out.add(value)
            continue
        try:
            out.add(date.fromisoformat(str(value).strip()))
        except ValueError:
            problems.append(f"{where}[{i}]: `{value}` is not a date (YYYY-MM-DD)")
    return frozenset(out)


def _parse_calendar(raw: Any, default_country: Any, problems: list[str]) -> CalendarSettings:
    country = _country(default_country, "defaults.country", problems)
    if not isinstance(raw, dict):
        problems.append("`calendar` must be a mapping (holidays, workdays, working_hours, away_status)")
        return CalendarSettings(country=country)
    for key in sorted(set(raw) - {"holidays", "workdays", "working_hours", "away_status"}):
        problems.append(f"calendar: unknown key `{key}`")
    settings = CalendarSettings(country=country)
    start, end = settings.start, settings.end
    if "working_hours" in raw:
        try:
            start, end = parse_hours(raw["working_hours"])
        except ValueError as exc:
            problems.append(f"calendar.working_hours: {exc}")
    holidays = _dates(raw.get("holidays") or [], "calendar.holidays", problems)
    workdays = _dates(raw.get("workdays") or [], "calendar.workdays", problems)
    for day in sorted(holidays & workdays):
        problems.append(f"calendar: {day} is both a holiday and a workday")
    return CalendarSettings(
        country=country,
        holidays=holidays,
        workdays=workdays,
        start=start,
        end=end,
        away_status=bool(raw.get("away_status", False)),
    )


def _parse_kudos(raw: Any, problems: list[str]) -> KudosSettings:
    from bot.platforms.identity import owns_channel  # (it reads storage, as sync_members does: imported when used)

    if not isinstance(raw, dict):
        problems.append("`kudos` must be a mapping (channel, weekly_limit, rankings, values)")
        return KudosSettings()
    for key in sorted(set(raw) - {"channel", "weekly_limit", "rankings", "values"}):
        problems.append(f"kudos: unknown key `{key}`")
    settings = KudosSettings()
    limit = raw.get("weekly_limit", settings.weekly_limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        problems.append(f"kudos.weekly_limit must be a whole number of at least 1, not {limit!r}")
        limit = settings.weekly_limit
    values = settings.values
    if "values" in raw:
        parsed = []
        for i, v in enumerate(raw["values"] or [], start=1):
            where = f"kudos.values[{i}]"
            if not isinstance(v, dict) or not all(v.get(k) for k in ("key", "en", "zh")):
                problems.append(f"{where}: needs `key`, `en` and `zh` (and optionally `emoji`)")
                continue
            if len(str(v["key"]).split()) != 1 or len(str(v["key"])) > 32:
                problems.append(f"{where}.key: one word without spaces, up to 32 characters (it is the #tag)")
                continue
            parsed.append(KudosValue(str(v["key"]), str(v.get("emoji", "⭐")), str(v["en"]), str(v["zh"])))
        values = tuple(parsed)
    channel = raw.get("channel")
    channels: tuple[tuple[str, str], ...] = ()
    if isinstance(channel, dict):  # {slack: C0KUDOS, feishu: oc_…}
        unknown = sorted(set(channel) - {*ACCOUNT_KEYS, "console"})
        if unknown:
            problems.append(f"kudos.channel: unknown platform(s) {', '.join(map(str, unknown))} (slack, feishu)")
        channels, channel = tuple((str(k), str(v)) for k, v in channel.items() if v), None
    return KudosSettings(
        values=values,
        weekly_limit=limit,
        channel=str(channel) if channel else None,
        rankings=bool(raw.get("rankings", False)),
        channels=channels,
        owns_channel=owns_channel,  # one channel for all: the platforms say whose it is
    )


def _parse_members(raw: Any, tz_default: str, locale_default: str, problems: list[str]) -> list[MemberSpec]:
    if not isinstance(raw, list):
        problems.append("`members` must be a list")
        return []
    out: list[MemberSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw, start=1):
        where = f"members[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping with at least `handle` and `name`")
            continue
        for key in sorted(set(entry) - _MEMBER_KEYS):
            problems.append(f"{where}: unknown key `{key}`")
        handle = str(entry.get("handle") or "").strip().lower()
        if not handle:
            problems.append(f"{where}: `handle` is required (a short id such as `alice`)")
            continue
        where = f"members[{i}] ({handle})"
        if handle in seen:
            problems.append(f"{where}: handle `{handle}` appears twice")
        seen.add(handle)
        tz = str(entry.get("timezone") or tz_default)
        if not is_valid_zone(tz):
            problems.append(f"{where}: `{tz}` is not an IANA time zone (e.g. Europe/London, Asia/Shanghai)")
        raw_locale = str(entry.get("locale") or locale_default)
        locale = normalize_locale(raw_locale, default="")
        if not locale:
            problems.append(f"{where}: locale `{raw_locale}` is not one of {', '.join(LOCALES)}")
        out.append(
            MemberSpec(
                handle=handle,
                name=str(entry.get("name") or handle.title()),
                timezone=tz,
                locale=locale or "en",
                manager=str(entry["manager"]).strip().lower() if entry.get("manager") else None,
                team=str(entry["team"]) if entry.get("team") else None,
                email=str(entry["email"]) if entry.get("email") else None,
                slack=str(entry["slack"]) if entry.get("slack") else None,
                feishu=str(entry["feishu"]) if entry.get("feishu") else None,
                country=_country(entry.get("country"), f"{where}.country", problems),
            )
        )
    for platform in ACCOUNT_KEYS:
        owners: dict[str, str] = {}
        for m in out:
            user_id = m.account(platform)
            if user_id and user_id in owners:
                problems.append(f"members ({m.handle}): {platform} id `{user_id}` is also {owners[user_id]}'s")
            elif user_id:
                owners[user_id] = m.handle
    handles = {m.handle for m in out}
    for m in out:
        if m.manager and m.manager not in handles:
            problems.append(f"members ({m.handle}): manager `{m.manager}` is not a member handle")
        if m.manager == m.handle:
            problems.append(f"members ({m.handle}): cannot be their own manager")
    by_handle = {m.handle: m for m in out}
    reported: set[frozenset[str]] = set()
    for m in out:
        chain, cur = [m.handle], m.manager
        while cur and cur in by_handle and cur != chain[-1]:
            if cur in chain:
                loop = frozenset(chain[chain.index(cur) :])
                if cur == m.handle and loop not in reported:
                    reported.add(loop)
                    problems.append(f"members ({m.handle}): reporting lines form a loop: {' → '.join(chain + [cur])}")
                break
            chain.append(cur)
            cur = by_handle[cur].manager
    return out


def _parse_flows(raw: Any, problems: list[str]) -> tuple[dict[str, Flow], dict[tuple[str, str], dict[str, str]]]:
    flows = dict(DEFAULT_FLOWS)
    texts: dict[tuple[str, str], dict[str, str]] = {}
    if not isinstance(raw, dict):
        problems.append("`flows` must be a mapping of flow name to settings")
        return flows, texts
    for name, spec in raw.items():
        where = f"flows.{name}"
        if name not in flows:
            problems.append(f"{where}: unknown flow (known: {', '.join(sorted(flows))})")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        for key in sorted(set(spec) - _FLOW_KEYS):
            problems.append(f"{where}: unknown key `{key}`")
        flows[name] = _apply_flow(flows[name], spec, where, problems, texts)
    return flows, texts


def _apply_flow(
    flow: Flow, spec: Mapping[str, Any], where: str, problems: list[str], texts: dict[tuple[str, str], dict[str, str]]
) -> Flow:
    sched = flow.schedule
    changes: dict[str, Any] = {}
    try:
        if isinstance(sched, MonthlySchedule):
            nth = int(spec.get("week", sched.nth))
            if not 1 <= nth <= 4:
                raise ValueError(f"week must be 1 to 4 (the first to fourth such weekday of the month), not {nth}")
            sched = MonthlySchedule(
                weekday=parse_weekday(spec.get("day", sched.weekday)),
                nth=nth,
                at=parse_time_of_day(spec["time"]) if "time" in spec else sched.at,
                window=parse_duration(spec["window"]) if "window" in spec else sched.window,
            )
        elif isinstance(sched, WeeklySchedule):
            sched = WeeklySchedule(
                weekday=parse_weekday(spec.get("day", sched.weekday)),
                at=parse_time_of_day(spec["time"]) if "time" in spec else sched.at,
                closes_weekday=parse_weekday(spec.get("closes_day", sched.closes_weekday)),
                closes_at=parse_time_of_day(spec["closes_time"]) if "closes_time" in spec else sched.closes_at,
            )
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
    for key, attr in (
        ("reminder_after", "reminder_after"),
        ("snooze", "snooze_for"),
        ("catch_up_within", "catch_up_within"),
    ):
        if key in spec:
            try:
                changes[attr] = parse_duration(spec[key])
            except ValueError as exc:
                problems.append(f"{where}.{key}: {exc}")
    if "enabled" in spec:
        changes["enabled"] = bool(spec["enabled"])
    steps = list(flow.steps)
    questions = spec.get("questions") or {}
    if not isinstance(questions, dict):
        problems.append(f"{where}.questions: must map a question id to its text or to false")
        questions = {}
    ids = {a.id for a in steps}
    for qid, value in questions.items():
        if qid not in ids:
            problems.append(f"{where}.questions.{qid}: no such question (questions: {', '.join(a.id for a in steps)})")
            continue
        if value is False:
            if qid in ("mood", "priorities", "obstacle_status"):
                problems.append(
                    f"{where}.questions.{qid}: this question feeds later conversations and cannot be removed"
                )
            steps = [a for a in steps if a.id != qid]
        elif isinstance(value, dict):
            texts[(flow.name, qid)] = _texts(value, f"{where}.questions.{qid}", problems)
        else:
            problems.append(f"{where}.questions.{qid}: give texts as {{en: ..., zh: ...}}, or false to leave it out")
    for i, extra in enumerate(spec.get("extra_questions") or [], start=1):
        w = f"{where}.extra_questions[{i}]"
        if not isinstance(extra, dict) or not extra.get("id"):
            problems.append(f"{w}: needs an `id` and texts `en` and `zh`")
            continue
        qid = str(extra["id"])
        if qid in ids or not qid.isidentifier():
            problems.append(f"{w}: id `{qid}` must be new and made of letters, digits and _")
            continue
        texts[(flow.name, qid)] = _texts({k: v for k, v in extra.items() if k in LOCALES}, w, problems)
        steps.append(Ask(qid, Text(), optional=bool(extra.get("optional", False))))
        ids.add(qid)
    return replace(flow, schedule=sched, steps=tuple(steps), **changes)


def _texts(value: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, str]:
    out = {k: str(v) for k, v in value.items() if k in LOCALES and v}
    missing = [loc for loc in LOCALES if loc not in out]
    if missing:
        problems.append(f"{where}: text missing for {', '.join(missing)} (every message exists in en and zh)")
    for key in set(value) - set(LOCALES):
        problems.append(f"{where}: unknown key `{key}`")
    return out


def sync_members(session, config: OrgConfig, *, now: datetime) -> dict[str, int]:  # noqa: ANN001 - any Session
    """Create or update the members the file names (by handle), then wire up the managers it names (a line someone
    accepted in chat stays where the file names no manager); members the file added before and no longer names are
    deactivated (they left, or their handle changed). Returns counts."""
    from storage import repo
    from storage.models import Member

    repo.lock_member_sync(session)  # replicas starting together take turns
    created = updated = deactivated = erased = 0
    rows: dict[str, Member] = {}
    for spec in config.members:
        row = repo.member_by_handle(session, handle=spec.handle)
        if row is None:  # a new handle for someone already known by their platform id: renamed, the same person
            known = (
                repo.member_by_platform_id(session, platform=p, user_id=i) for p, i in spec.accounts() if p != "console"
            )
            row = next((m for m in known if m is not None and m.handle not in rows), None)
            if row is not None:
                log.info("member %s is now %s in the organisation file", row.handle, spec.handle)
                row.handle = spec.handle
        if row is None and erased_any(session, spec):
            erased += 1  # they deleted their data: not brought back until they ask (`/me rejoin`)
            continue
        if row is None:
            row = Member(
                handle=spec.handle,
                name=spec.name,
                timezone=spec.timezone,
                locale=spec.locale,
                created_at=now,
                updated_at=now,
            )
            created += 1
        else:
            updated += 1
        row.name, row.timezone, row.locale = spec.name, spec.timezone, spec.locale
        row.team, row.email, row.active, row.source = spec.team, spec.email, True, "file"
        row.country = spec.country
        for platform, user_id in spec.accounts():
            if platform != "console":  # the console's account is the handle
                row.set_account(platform, user_id)
        row.updated_at = now
        session.add(row)
        rows[spec.handle] = row
    session.flush()
    for spec in config.members:
        row = rows.get(spec.handle)
        manager = rows.get(spec.manager) if spec.manager else None
        if row is not None:
            repo.listed_line(session, row, manager.id if manager else None, source="file", now=now)
    for row in repo.members_from_file(session):
        if row.handle not in rows and row.active:
            # Off the file: no more prompts or digests. What they said stays (`flywheel forget` deletes it); a
            # platform directory that still lists them makes them active again as its own.
            row.active, row.updated_at = False, now
            session.add(row)
            deactivated += 1
    if erased:
        log.info(
            "%d people in the organisation file deleted their data and are not added again until they write /me rejoin",
            erased,
        )
    return {"created": created, "updated": updated, "deactivated": deactivated}


def erased_any(session, spec: MemberSpec) -> bool:  # noqa: ANN001 - any Session
    """Did the person this file entry names delete their data (by any of their accounts)?"""
    from storage import repo

    return any(repo.erased_account(session, platform=p, user_id=i) is not None for p, i in spec.accounts())
