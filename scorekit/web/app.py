"""``scorekit rate``: a small web app to rate a workspace's cases in a browser.

The page (``static/``) shows axial, coronal and sagittal slices rendered here (``render.py``)
and a form per region; ratings go to the workspace's store, the same one the Slicer module
and ``scorekit train`` use, which validates them (quality 5 ⇔ no error) and serialises
concurrent writers with a file lock. The page builds its quality scale and error choices
from ``/api/scale``: the rating model lives in ``scorekit.data.ratings`` alone.

Routes (JSON unless said otherwise):
    GET  /                                       the page
    GET  /api/scale                              qualities and error labels (the rating model)
    GET  /api/cases?rater=R                      cases, regions, what R has rated
    GET  /api/cases/{case}?rater=R               one case: slices, focus, regions, R's ratings
    GET  /api/cases/{case}/slice/{axis}/{index}.png?preset=bone|soft&contours=1
    POST /api/cases/{case}/ratings               {rater, seconds, ratings: [{region, quality,
                                                  error, comment}]}
    GET  /api/ratings.csv                        every rating, as CSV
With a token every route needs it, as ``?token=``, the ``X-Token`` header or the cookie the
page sets (so that its script and style sheet load).

Hardening: every stored string reaches the page as text (the script never writes HTML);
responses carry a Content-Security-Policy without inline script, ``nosniff`` and
``X-Frame-Options: DENY``; request bodies are capped at ``MAX_BODY`` bytes; the Host header
must name the address served or localhost (DNS rebinding); the API takes strict JSON types
(``"3"`` or ``true`` are not qualities) and its validation errors never echo the input.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import secrets
import socket
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from scorekit.data.ratings import QUALITIES, QUALITY_MAX, ErrorLabel, Rating
from scorekit.data.workspace import Workspace
from scorekit.errors import ScoreKitError
from scorekit.web.render import AXES, PRESETS, ViewCase, render_slice

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
MAX_BODY = 256 * 1024  # bytes; a case's ratings take a few kB
COOKIE = "score_token"
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class RegionRating(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    region: str = Field(max_length=200)
    quality: int = Field(ge=min(QUALITIES), le=max(QUALITIES))
    error: str = Field(max_length=20)
    comment: str = Field(default="", max_length=2000)


class CaseRatings(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    rater: str = Field(min_length=1, max_length=200)
    seconds: float = Field(ge=0, le=7 * 24 * 3600, allow_inf_nan=False)
    ratings: list[RegionRating] = Field(min_length=1, max_length=500)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413, whatever its
    Content-Length says (chunked bodies are counted as they arrive)."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await _plain(send, 413, "request body too large")
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, "request body too large")
            return message

        return await self.app(scope, counted, send)


async def _plain(send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(workspace: str | os.PathLike, token: str | None = None,
               hosts: tuple[str, ...] = LOCAL_NAMES) -> FastAPI:
    """The app for ``workspace``; ``hosts``: the names the Host header may carry (the
    address served and localhost)."""
    ws = Workspace(workspace)
    ws.ratings.keep_connections()  # a server: saves need not wait for SQLite's log to fold

    def check_request(request: Request) -> None:
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.strip("[]") not in hosts:
            raise HTTPException(400, "unexpected Host header")
        if token is None:
            return
        given = (request.headers.get("X-Token") or request.query_params.get("token")
                 or request.cookies.get(COOKIE) or "")
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a valid token is required (?token=... or X-Token)")

    app = FastAPI(title="SCORE rating form", dependencies=[Depends(check_request)],
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        """Where and what, never the input itself (it may be huge or hostile)."""
        problems = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in error.errors()]
        return JSONResponse({"detail": problems[:20]}, status_code=422)

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    def case_or_404(case_id: str):
        try:
            return ws.case(case_id)
        except ScoreKitError:
            raise HTTPException(404, f"case '{case_id}' is not in this workspace") from None

    @lru_cache(maxsize=4)
    def view(case_id: str) -> ViewCase:
        case = case_or_404(case_id)
        return ViewCase.of(case.image(), case.initial())

    def rated_by(rater: str, case_id: str | None = None) -> dict[tuple[str, str], Rating]:
        """(case, region) → this rater's rating; one read of the store."""
        return {(r.case, r.region): r for r in ws.ratings.all(case_id, rater)}

    @app.get("/")
    def page() -> FileResponse:
        page = FileResponse(STATIC / "index.html")
        if token is not None:  # the page's script, style sheet and calls then carry it
            page.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return page

    @app.get("/api/scale")
    def scale() -> dict:
        return {"qualities": list(QUALITIES), "perfect": QUALITY_MAX,
                "no_error": ErrorLabel.NONE.label,
                "errors": [{"name": e.label, "title": e.title, "key": e.key}
                           for e in ErrorLabel]}

    @app.get("/api/cases")
    def cases(rater: str = "") -> dict:
        done = rated_by(rater)
        listing = [{"id": case.id, "regions": len(case.regions),
                    "rated": sum((case.id, r) in done for r in case.regions)}
                   for case in ws.cases()]
        complete = sum(c["rated"] == c["regions"] for c in listing)
        return {"cases": listing, "complete": complete, "total": len(listing)}

    @app.get("/api/cases/{case_id}")
    def case_detail(case_id: str, rater: str = "") -> dict:
        case = case_or_404(case_id)
        shown = view(case_id)
        done = rated_by(rater, case_id)
        regions = []
        for name in case.regions:
            rating = done.get((case_id, name))
            if name not in shown.values:
                raise HTTPException(422, f"case '{case_id}': case.json lists region '{name}', "
                                         "which its initial segmentation does not hold")
            value = shown.values[name]
            regions.append({
                "name": name, "color": _hex(shown.colors[value]), "focus": shown.focus(value),
                "rating": None if rating is None else {
                    "quality": rating.quality, "error": rating.error_label.label,
                    "comment": rating.comment}})
        return {"id": case.id, "regions": regions,
                "slices": {axis: shown.slices(axis) for axis in AXES},
                "presets": list(PRESETS)}

    @app.get("/api/cases/{case_id}/slice/{axis}/{index}.png")
    def slice_png(case_id: str, axis: str, index: int, preset: str = "bone",
                  contours: Annotated[int, Query(ge=0, le=1)] = 1) -> Response:
        if axis not in AXES or preset not in PRESETS:
            raise HTTPException(404, f"no view '{axis}' with preset '{preset}'")
        shown = view(case_id)
        if not 0 <= index < shown.slices(axis):
            raise HTTPException(404, f"{axis} slice {index} is outside 0..{shown.slices(axis) - 1}")
        png = render_slice(shown, axis, index, preset, contours=bool(contours))
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=300"})

    @app.post("/api/cases/{case_id}/ratings")
    def save_ratings(case_id: str, body: CaseRatings) -> dict:
        case = case_or_404(case_id)
        per_region = body.seconds / len(body.ratings)
        try:
            ratings = [Rating(case.id, r.region, r.quality, ErrorLabel.parse(r.error),
                              body.rater.strip(), per_region, comment=r.comment.strip())
                       for r in body.ratings]
            stored = ws.ratings.put(ratings)
        except (ScoreKitError, ValueError) as error:
            raise HTTPException(422, str(error)) from None
        return {"stored": stored}

    @app.get("/api/ratings.csv")
    def ratings_csv() -> Response:
        return Response(ws.ratings.csv_text(), media_type="text/csv", headers={
            "Content-Disposition": 'attachment; filename="ratings.csv"'})

    return app


def _hex(color) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in color)


def serve(workspace: str | os.PathLike, host: str = "127.0.0.1", port: int = 8765,
          token: str | None = None) -> None:
    """Run the app until interrupted; refuses to listen beyond loopback without a token."""
    import uvicorn

    if not is_loopback(host) and not token:
        raise ScoreKitError(f"--host {host} is reachable from other machines: give --token "
                            "(a long random string) so only raters who have it can use it")
    app = create_app(workspace, token, hosts=(host, *LOCAL_NAMES))
    listening = _listen(host, port)
    query = f"?token={token}" if token else ""
    print(f"rating form for {workspace}: http://{host}:{port}/{query}  (Ctrl+C stops)")
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """The form's socket, bound here so that a port in use is refused in one line (uvicorn
    would log it and exit with its own status)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ScoreKitError(f"port {port} on {host} is in use (another rating form?); "
                                "choose another with --port") from None
        raise ScoreKitError(f"cannot listen on {host} port {port} ({error.strerror or error})"
                            ) from None
