"""The backend contract: turn prompts into responses (and, where possible, option log-probabilities).

Backends are async because most are I/O-bound (HTTP); in-process backends (hf, vllm, lab) batch the
concurrent calls they receive. A backend never decides what is cached: the runner hashes each request
with `Backend.identity` and only calls the backend for samples the store does not have.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from polaris.errors import PolarisError
from polaris.prompts.render import Prompt

if TYPE_CHECKING:
    from polaris.tasks.base import Item, Task


@dataclass(frozen=True, slots=True)
class Decoding:
    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    # Test-time compute (docs/compute.md); None: not sent, and not in the request hash.
    reasoning_effort: str | None = None
    thinking_budget: int | None = None  # thinking tokens before the thinking is closed (budget forcing)

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking: lets baselines answer an item; never hashed, never sent to a server."""

    task: Task
    item: Item
    prompt_format: str


@dataclass(frozen=True, slots=True)
class GenRequest:
    prompt: Prompt
    decoding: Decoding
    n: int = 1  # samples wanted from this call
    first_index: int = 0  # index of the first sample (seeds and cache keys follow it)
    context: RequestContext | None = field(default=None, compare=False)


@dataclass(slots=True)
class Choice:
    text: str
    finish_reason: str | None = None
    reasoning: str | None = None  # a separate reasoning channel (e.g. `reasoning_content`)
    tokens: int | None = None  # completion tokens for this choice, when known
    # Backends that know where thinking ended (budget forcing: hf, lab) report its exact token count and
    # whether the budget cut it short; stored with the sample (runner/tokens.py reads them).
    reasoning_tokens: int | None = None
    forced: bool = False


@dataclass(slots=True)
class GenResult:
    choices: list[Choice]
    usage: dict[str, int] = field(default_factory=dict)
    latency: float = 0.0  # seconds, the successful attempt
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class LoglikRequest:
    """Score each continuation given the context: log P(continuation | context)."""

    context: str
    continuations: tuple[str, ...]
    origin: RequestContext | None = field(default=None, compare=False)  # lets baselines answer


@dataclass(slots=True)
class LoglikResult:
    logprobs: list[float]  # one per continuation, summed over its tokens
    tokens: list[int] = field(default_factory=list)  # continuation lengths in tokens
    greedy: list[bool] = field(default_factory=list)  # is each continuation the greedy one
    latency: float = 0.0
    attempts: int = 1
    bos: bool | None = None  # the context was scored after a BOS token (in-process backends say; None: unknown)


class RequestFailed(Exception):
    """A request that still failed after its retry budget: recorded as an error for its item.

    `kind` is what went wrong ("timeout", "stall", "http", "bad_body", "connection", "truncated", ...);
    `permanent` says that asking again cannot help (a 4xx other than 408/409/425/429: a wrong model
    name, an unsupported parameter, a prompt too long), as opposed to transient failures (timeouts,
    429, 5xx, broken bodies) that were retried with backoff until the budget ran out.
    """

    def __init__(self, kind: str, detail: str, attempts: int = 1, status: int | None = None,
                 permanent: bool = False, request: str | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.attempts = attempts
        self.status = status
        self.permanent = permanent
        # The hash of the stored request that failed (set where the failure is recorded), so the item's
        # result can name it: the viewer shows an errored item's prompt beside its error.
        self.request = request

    @property
    def reason(self) -> str:
        """A short key to count failures by: "HTTP 429", "timeout", "bad response", ..."""
        return reason_of(str(self))

    def __reduce__(self):  # pickled by its fields (Ray ships it from worker to driver)
        return RequestFailed, (self.kind, self.detail, self.attempts, self.status, self.permanent, self.request)


_REASONS = {"bad_body": "bad response", "http": "HTTP", "missing": "not stored"}


def reason_of(error: str) -> str:
    """The reason key of a stored error text ("kind: detail"): "HTTP 400", "timeout", "stall", ..."""
    kind, _, detail = error.partition(": ")
    if kind == "http":
        status = detail.split(" ", 2)[1] if detail.startswith("HTTP ") else ""
        return f"HTTP {status}".strip()
    return _REASONS.get(kind, kind)


class BackendUnavailable(PolarisError):
    """The backend cannot serve at all (unreachable, unauthorised, not OpenAI-compatible)."""


class NotSupported(PolarisError):
    """The backend cannot do what was asked (e.g. log-likelihood scoring)."""


@runtime_checkable
class Backend(Protocol):
    name: str  # as the user wrote it: "openai/gpt-4o-mini", "hf/./tiny", "baseline/gold"
    supports_n: bool  # can one call return n samples

    def identity(self) -> dict[str, Any]:
        """What makes two backends' answers interchangeable (model, endpoint, api): hashed."""
        ...

    async def start(self) -> None:
        """Check the backend can serve (raise BackendUnavailable with a one-line reason)."""
        ...

    async def generate(self, req: GenRequest) -> GenResult: ...

    async def loglik(self, req: LoglikRequest) -> LoglikResult: ...

    async def close(self) -> None: ...
