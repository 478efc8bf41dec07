"""The web rating form's API: listing, slices, validation, token, concurrency, CSV."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from scorekit.cli import main
from scorekit.web.app import MAX_BODY, create_app

LOCAL = "http://localhost"  # the Host header the app accepts by default


@pytest.fixture()
def client(unrated_workspace) -> TestClient:
    return TestClient(create_app(unrated_workspace.path), base_url=LOCAL)



def _png_array(content: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))



def _form(case, scores: dict[str, tuple[int, str]], rater="dr web", seconds=30.0) -> dict:
    return {"rater": rater, "seconds": seconds,
            "ratings": [{"region": r, "quality": q, "error": e, "comment": ""}
                        for r, (q, e) in scores.items()]}



def test_cases_and_progress_follow_the_store(client, unrated_workspace):
    listing = client.get("/api/cases", params={"rater": "dr web"}).json()
    assert [c["id"] for c in listing["cases"]] == unrated_workspace.case_ids()
    assert (listing["complete"], listing["total"]) == (0, 2)
    case = unrated_workspace.case_ids()[0]
    assert client.post(f"/api/cases/{case}/ratings", json=_form(case, {
        "humerus_left": (3, "under"), "humerus_right": (5, "none")})).status_code == 200
    listing = client.get("/api/cases", params={"rater": "dr web"}).json()
    assert listing["complete"] == 1 and listing["cases"][0]["rated"] == 2
    detail = client.get(f"/api/cases/{case}", params={"rater": "dr web"}).json()
    assert [r["name"] for r in detail["regions"]] == ["humerus_left", "humerus_right"]
    assert detail["regions"][0]["rating"] == {"quality": 3, "error": "under", "comment": ""}
    assert all(r["color"].startswith("#") for r in detail["regions"])



def test_slices_show_the_ct_windowed_with_contours(client, unrated_workspace):
    case = unrated_workspace.case_ids()[0]
    detail = client.get(f"/api/cases/{case}").json()
    focus = detail["regions"][0]["focus"]
    z = focus["axial"]
    url = f"/api/cases/{case}/slice/axial/{z}.png"
    with_contours = client.get(url)
    assert with_contours.status_code == 200
    assert with_contours.headers["content-type"] == "image/png"
    plain = _png_array(client.get(url, params={"contours": 0}).content)
    drawn = _png_array(with_contours.content)
    assert max(plain.shape[:2]) == 512
    coloured = np.any(drawn != plain, axis=-1)
    assert 50 < coloured.sum() < 0.2 * coloured.size  # thin outlines, not filled masks
    soft = _png_array(client.get(url, params={"contours": 0, "preset": "soft"}).content)
    assert not np.array_equal(soft, plain)
    # Coronal view: 2.7 mm slices against 2 mm pixels, stretched to physical proportions.
    coronal = _png_array(client.get(
        f"/api/cases/{case}/slice/coronal/{focus['coronal']}.png").content)
    height_mm, width_mm = 120 * 2.7, 96 * 2.0
    assert coronal.shape[0] / coronal.shape[1] == pytest.approx(height_mm / width_mm, rel=0.02)



@pytest.mark.parametrize("path", [
    "/api/cases/no_such_case",
    "/api/cases/..%2F..%2Fworkspace.json",
    "/api/cases/%2E%2E/slice/axial/0.png",
    "/static/../unrated_workspace.json",
    "/static/%2E%2E/%2E%2E/unrated_workspace.json",
    "/api/cases/{case}/slice/axial/100000.png",
    "/api/cases/{case}/slice/oblique/0.png",
])
def test_unknown_cases_and_paths_outside_get_404(client, unrated_workspace, path):
    response = client.get(path.format(case=unrated_workspace.case_ids()[0]))
    assert response.status_code == 404
    assert "workspace" not in response.text or "not in this workspace" in response.text



@pytest.mark.parametrize(("scores", "message"), [
    ({"humerus_left": (5, "under"), "humerus_right": (5, "none")}, "quality 5 means no error"),
    ({"humerus_left": (3, "none"), "humerus_right": (5, "none")}, "needs an error label"),
    ({"humerus_left": (7, "under")}, "less than or equal to 5"),
    ({"femur": (3, "under")}, "femur"),
    ({"humerus_left": (3, "sideways")}, "sideways"),
])
def test_invalid_ratings_get_a_4xx_with_a_reason_and_store_nothing(client, unrated_workspace,
                                                                   scores, message):
    case = unrated_workspace.case_ids()[0]
    response = client.post(f"/api/cases/{case}/ratings", json=_form(case, scores))
    assert response.status_code == 422
    assert message in response.text
    assert unrated_workspace.ratings.all() == []



def test_a_token_guards_every_route(unrated_workspace):
    guarded = TestClient(create_app(unrated_workspace.path, token="s3cret-token"),
                         base_url=LOCAL)
    assert guarded.get("/api/cases").status_code == 401
    assert guarded.get("/static/app.js").status_code == 401  # static files too
    assert guarded.get("/", params={"token": "wrong"}).status_code == 401
    assert guarded.get("/api/cases", headers={"X-Token": "s3cret-token"}).status_code == 200
    page = guarded.get("/", params={"token": "s3cret-token"})
    assert page.status_code == 200 and "httponly" in page.headers["set-cookie"].lower()
    assert guarded.get("/static/app.js").status_code == 200  # the page's cookie carries it


def test_every_response_carries_the_security_headers(client):
    for path in ("/", "/static/app.js", "/api/scale", "/api/cases/nowhere"):
        headers = client.get(path).headers
        assert "script-src" not in headers["content-security-policy"]  # 'self' only
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"


def test_a_foreign_host_header_is_refused(unrated_workspace):
    rebound = TestClient(create_app(unrated_workspace.path), base_url="http://evil.example")
    assert rebound.get("/api/cases").status_code == 400
    served = TestClient(create_app(unrated_workspace.path, hosts=("10.0.0.5",)),
                        base_url="http://10.0.0.5:8765")
    assert served.get("/api/cases").status_code == 200


def test_a_large_body_is_refused_before_it_is_read(client, unrated_workspace):
    case = unrated_workspace.case_ids()[0]
    huge = b'{"rater": "x", "seconds": 1, "ratings": [' + b" " * (MAX_BODY + 1) + b"]}"
    response = client.post(f"/api/cases/{case}/ratings", content=huge,
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and len(response.content) < 100
    # A body sent in chunks, with no length declared, is counted as it arrives.
    chunks = (b" " * 1024 for _ in range(MAX_BODY // 1024 + 2))
    response = client.post(f"/api/cases/{case}/ratings", content=chunks,
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("field, value", [("quality", "3"), ("quality", True),
                                          ("quality", 3.0), ("error", 1)])
def test_ratings_need_strict_json_types(client, unrated_workspace, field, value):
    case = unrated_workspace.case_ids()[0]
    rating = {"region": "humerus_left", "quality": 3, "error": "under"} | {field: value}
    response = client.post(f"/api/cases/{case}/ratings",
                           json={"rater": "r", "seconds": 1, "ratings": [rating]})
    assert response.status_code == 422
    assert unrated_workspace.ratings.all(case) == []


def test_validation_errors_never_echo_the_input(client, unrated_workspace):
    case = unrated_workspace.case_ids()[0]
    hostile = "<script>alert(1)</script>" + "x" * 3000
    response = client.post(f"/api/cases/{case}/ratings", json={
        "rater": "r", "seconds": 1,
        "ratings": [{"region": "humerus_left", "quality": 3, "error": "under",
                     "comment": hostile}]})
    assert response.status_code == 422
    assert "<script>" not in response.text and len(response.text) < 1000


def test_a_case_whose_case_json_disagrees_gets_422_and_the_rest_works(client,
                                                                      unrated_workspace):
    import json

    broken, fine = unrated_workspace.case_ids()[:2]
    info = unrated_workspace.case(broken).image_path.parent / "case.json"
    record = json.loads(info.read_text())
    info.write_text(json.dumps(record | {"regions": [*record["regions"], "femur_left"]}))
    response = client.get(f"/api/cases/{broken}")
    assert response.status_code == 422 and "femur_left" in response.json()["detail"]
    assert client.get(f"/api/cases/{fine}").status_code == 200
    assert client.get("/api/cases").status_code == 200



def test_listening_beyond_loopback_needs_a_token(unrated_workspace, capsys):
    assert main(["rate", "--workspace", str(unrated_workspace.path), "--host", "0.0.0.0"]) == 2
    assert "--token" in capsys.readouterr().err



def test_two_raters_saving_at_once_lose_nothing(unrated_workspace):
    case = unrated_workspace.case_ids()[0]

    def rate(rater: str) -> int:
        # one server per rater
        with TestClient(create_app(unrated_workspace.path), base_url=LOCAL) as client:
            for _ in range(5):
                response = client.post(f"/api/cases/{case}/ratings", json=_form(
                    case, {"humerus_left": (2, "over"), "humerus_right": (4, "under")},
                    rater=rater))
                assert response.status_code == 200, response.text
        return 0

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(rate, [f"rater {i}" for i in range(4)]))
    stored = unrated_workspace.ratings.all(case)
    assert len(stored) == 4 * 2
    assert {r.rater for r in stored} == {f"rater {i}" for i in range(4)}



def test_raters_on_the_form_and_a_command_line_import_at_once_lose_nothing(
        unrated_workspace, tmp_path):
    import subprocess
    import sys

    cases = unrated_workspace.case_ids()
    rows = [f"{c},{r},3,under,csv{k}\n" for k in range(3000) for c in cases
            for r in ("humerus_left", "humerus_right")]
    (tmp_path / "r.csv").write_text("case,region,quality,error,rater\n" + "".join(rows))
    importing = subprocess.Popen([sys.executable, "-m", "scorekit", "ratings", "import",
                                  str(tmp_path / "r.csv"), "--workspace",
                                  str(unrated_workspace.path)], stderr=subprocess.PIPE)
    saved: set[str] = set()

    def rate(rater: str) -> None:
        with TestClient(create_app(unrated_workspace.path), base_url=LOCAL) as client:
            for i in range(200):
                response = client.post(f"/api/cases/{cases[0]}/ratings", json=_form(
                    cases[0], {"humerus_left": (2, "over")}, rater=f"{rater} {i}"))
                assert response.status_code == 200, response.text
                saved.add(f"{rater} {i}")
                if importing.poll() is not None and i >= 5:
                    return

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(rate, ["ana", "ben"]))
    assert importing.wait(120) == 0, importing.stderr.read()
    raters = {r.rater for r in unrated_workspace.ratings.all()}
    assert len(unrated_workspace.ratings.all()) == len(rows) + len(saved)
    assert saved <= raters and {f"csv{k}" for k in range(3000)} <= raters



def test_csv_export_holds_the_saved_ratings(client, unrated_workspace):
    case = unrated_workspace.case_ids()[1]
    client.post(f"/api/cases/{case}/ratings", json=_form(case, {
        "humerus_left": (4, "over"), "humerus_right": (1, "both")}))
    text = client.get("/api/ratings.csv").text
    assert text.splitlines()[0].startswith("case,region,quality,error")
    assert f"{case},humerus_right,1,both,dr web" in text
