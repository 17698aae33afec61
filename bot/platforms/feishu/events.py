"""What the bot does with a translated Feishu payload, for both the long connection and HTTP callbacks.

Messages are acknowledged first and handled after (on the long connection, a worker thread takes them; the
connection's own loop is never blocked). Card actions are answered in the callback itself, so the card can change in
place — a pressed question shows the answer given, "Answer in a form" turns the card into the form, a submitted form
shows what was saved or what did not fit. A card action that takes longer than the callback allows still counts;
the card just shows a short notice and the reply arrives as a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from bot.platforms.common import build_form, reply_command, reply_number
from bot.platforms.feishu import cards
from bot.platforms.feishu.inbound import PLATFORM, Parsed, translate
from bot.ports import Chat
from conversations.events import InboundEvent
from conversations.followups import FOLLOW_UPS

log = logging.getLogger(__name__)

CARD_BUDGET = 2.0  # seconds of the 3 s Feishu gives a card callback

TOASTS = {
    "en": {
        "saved": "Saved",
        "form_saved": "Your answers are saved.",
        "stale": "That question was already answered.",
        "not_yours": "This form is not yours, or it has closed.",
        "fix": "Some answers need another look.",
        "working": "Got it — the reply follows as a message.",
        "done": "Done",
        "reply_sent": "Sent. Only the two of you see it.",
        "reply_empty": "Write something to send.",
    },
    "zh": {
        "saved": "已记录",
        "form_saved": "你的回答已保存。",
        "stale": "这个问题已经回答过了。",
        "not_yours": "这个表单不属于你，或已经关闭。",
        "fix": "有些回答需要再看一下。",
        "working": "收到，稍后我会发消息回复你。",
        "done": "完成",
        "reply_sent": "已发送，只有你们两个人能看到。",
        "reply_empty": "请先写下要发送的内容。",
    },
}


class FeishuEvents:
    def __init__(self, app: Chat, *, poke: Callable[[], None] = lambda: None, workers: int = 4) -> None:
        self.app = app
        self.poke = poke
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feishu-events")
        self._pending: set[Future[Any]] = set()

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def wait_idle(self, timeout: float = 10) -> None:
        """Wait for the events taken in the background so far (tests; a clean shutdown)."""
        wait(list(self._pending), timeout=timeout)

    # ------------------------------------------------------------------------------------------------ entry

    def dispatch(self, payload: Mapping[str, Any], *, background: bool) -> dict[str, Any] | None:
        """Act on one decrypted payload; returns the body of a card-callback response, if any. Raises ValueError on
        a malformed payload (the HTTP endpoint answers 400; the long connection logs and drops it)."""
        parsed = translate(payload, self.app.clock.now())
        if parsed.kind == "url_verification":
            return {"challenge": parsed.challenge}
        if parsed.kind == "inbound" and parsed.event is not None:
            if background:
                future = self.pool.submit(self._handle, parsed.event)
                self._pending.add(future)
                future.add_done_callback(self._pending.discard)
            else:
                self._handle(parsed.event)
            return None
        if parsed.kind == "card_action":
            return self._card_action(parsed)
        return None

    def _handle(self, event: InboundEvent) -> None:
        try:
            self.app.handle(event)
        except Exception:  # one event never takes the connection down (Feishu retries if unacked)
            log.exception("a Feishu %s could not be handled", event.kind)
        self.poke()

    # ------------------------------------------------------------------------------------------------ cards

    def _card_action(self, parsed: Parsed) -> dict[str, Any]:
        future = self.pool.submit(self._card_action_now, parsed.data or {})
        try:
            return future.result(timeout=CARD_BUDGET)
        except FutureTimeout:
            return toast("info", self._toasts(str((parsed.data or {}).get("user")))["working"])
        except Exception:
            log.exception("a Feishu card action could not be handled")
            return {}

    def _card_action_now(self, data: Mapping[str, Any]) -> dict[str, Any]:
        user, value = str(data["user"]), dict(data.get("value") or {})
        key = f"feishu:card:{data.get('event_id') or data.get('message_id')}"
        words = self._toasts(user)
        try:
            if "form" in value and data.get("form_value") is not None:
                return self._submit_form(user, value, dict(data["form_value"] or {}), key, words)
            if "reply" in value and data.get("form_value") is not None:
                return self._send_reply(user, value, dict(data["form_value"] or {}), key, words, data.get("workspace"))
            pressed = str(value.get("v") or "")
            number = reply_number(pressed)
            if number is not None:  # a Reply / Answer button: this card becomes the reply form
                return {
                    "card": {
                        "type": "raw",
                        "data": cards.reply_form_card(number, self.app.member_locale(PLATFORM, user)),
                    }
                }
            if pressed.startswith("form:"):
                run_id = pressed.removeprefix("form:")
                form = (
                    build_form(self.app, platform=PLATFORM, user=user, run_id=int(run_id))
                    if run_id.isdecimal() and len(run_id) < 13
                    else None
                )
                if form is None:
                    return toast("error", words["not_yours"])
                return {"card": {"type": "raw", "data": cards.form_card(form)}}
            if not pressed:
                return {}
            step, flow = value.get("step"), value.get("flow")
            if (
                step
                and flow
                and not self.app.answers_current_question(platform=PLATFORM, user=user, flow=str(flow), step=str(step))
            ):
                return toast("info", words["stale"])  # the card says so; no message in the chat as well
            event = InboundEvent(
                platform=PLATFORM,
                user=user,
                kind="action",
                text=pressed[:2000],
                dedup_key=key,
                received_at=self.app.clock.now(),
                workspace=data.get("workspace"),
                values={"flow": str(flow), "step": str(step)} if step and flow else {},
            )
            self.app.handle(event)
            return self._after_press(user, value, words)
        finally:
            self.poke()

    def _after_press(self, user: str, value: Mapping[str, Any], words: Mapping[str, str]) -> dict[str, Any]:
        """Show the question and the answer given on the card that was pressed; leave it as it was if the press
        did not answer it (an old card, say)."""
        step, run_id, pressed = value.get("step"), value.get("run"), str(value.get("v"))
        if not step:
            return toast("success", words["done"])
        form = (
            build_form(self.app, platform=PLATFORM, user=user, run_id=int(run_id)) if isinstance(run_id, int) else None
        )
        field = next((f for f in form.fields if f.step == step), None) if form else None
        label = str(value.get("l") or pressed)
        if pressed in ("later", "skip"):
            question = field.question if field else ""
            return {
                "toast": {"type": "success", "content": label},
                "card": {"type": "raw", "data": cards.answered_card(question, label, form.locale if form else "en")},
            }
        if step == FOLLOW_UPS and field is not None:  # one item of the list: the card keeps the other items' buttons
            return toast("success", words["saved"])
        if field is None or field.current != pressed:
            return toast("info", words["stale"])
        return {
            "toast": {"type": "success", "content": words["saved"]},
            "card": {"type": "raw", "data": cards.answered_card(field.question, label, form.locale)},  # type: ignore[union-attr]  # a field implies a form
        }

    def _submit_form(
        self, user: str, value: Mapping[str, Any], form_value: dict[str, Any], key: str, words: Mapping[str, str]
    ) -> dict[str, Any]:
        run_id = value.get("form")
        if not isinstance(run_id, int):
            return toast("error", words["not_yours"])
        values = cards.form_values(dict(value), form_value)
        errors = self.app.submit_form(platform=PLATFORM, user=user, run_id=run_id, values=values, dedup_key=key)
        if "" in errors:
            return toast("error", words["not_yours"])
        if errors:
            form = build_form(self.app, platform=PLATFORM, user=user, run_id=run_id)
            if form is None:
                return toast("error", words["not_yours"])
            return {
                "toast": {"type": "error", "content": words["fix"]},
                "card": {"type": "raw", "data": cards.form_card(form, errors=errors, values=values)},
            }
        return {
            "toast": {"type": "success", "content": words["saved"]},
            "card": {"type": "raw", "data": cards.notice_card(words["form_saved"])},
        }

    def _send_reply(
        self,
        user: str,
        value: Mapping[str, Any],
        form_value: dict[str, Any],
        key: str,
        words: Mapping[str, str],
        workspace: Any,
    ) -> dict[str, Any]:
        """A sent reply form: exactly as if the person had typed `/reply N …` (the answer comes as a message)."""
        number, text = value.get("reply"), form_value.get("text")
        if not isinstance(number, int) or number < 0:
            return toast("error", words["not_yours"])
        if not isinstance(text, str) or not text.strip():
            return toast("error", words["reply_empty"])
        event = InboundEvent(
            platform=PLATFORM,
            user=user,
            kind="command",
            text=reply_command(number, text[:5000]),
            dedup_key=key,
            received_at=self.app.clock.now(),
            workspace=workspace,
        )
        self.app.handle(event)
        return {
            "toast": {"type": "success", "content": words["reply_sent"]},
            "card": {"type": "raw", "data": cards.notice_card(words["reply_sent"])},
        }

    def _toasts(self, user: str) -> Mapping[str, str]:
        locale = self.app.member_locale(PLATFORM, user)
        return TOASTS.get(locale, TOASTS["zh"])


def toast(kind: str, text: str) -> dict[str, Any]:
    return {"toast": {"type": kind, "content": text}}
