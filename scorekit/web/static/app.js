// SCORE rating form: views of one case, a form per region, next / previous case.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const state = { cases: [], index: 0, case: null, preset: "bone", slice: {}, opened: 0, requests: 0,
                scale: null,  // the rating model, from the server (api/scale)
                current: 0 };  // the region the keyboard rates
const $ = (selector) => document.querySelector(selector);

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options, headers: { "Content-Type": "application/json", "X-Token": token },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail)
      ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    throw new Error(detail || response.statusText);
  }
  return body;
}

function rater() { return $("#rater").value.trim(); }

async function loadCases() {
  const listing = await api("api/cases?rater=" + encodeURIComponent(rater()));
  state.cases = listing.cases;
  $("#progress").textContent = `${listing.complete} / ${listing.total} cases rated`;
}

async function openCase(index) {
  const who = rater(), request = ++state.requests;
  state.index = (index + state.cases.length) % state.cases.length;
  const id = state.cases[state.index].id;
  const opened = await api(`api/cases/${encodeURIComponent(id)}?rater=${encodeURIComponent(who)}`);
  if (request !== state.requests) return;  // a later open (another rater or case) wins
  state.case = opened;
  state.slice = { ...state.case.regions[0].focus };
  state.opened = performance.now();
  $("#case-title").textContent = `${id} (${state.index + 1} of ${state.cases.length})`;
  for (const figure of document.querySelectorAll("figure")) {
    const slider = figure.querySelector("input");
    slider.max = state.case.slices[figure.dataset.axis] - 1;
  }
  buildForm();
  showSlices();
  $("#case-title").dataset.rater = who;  // the form now shows this rater's ratings
  setStatus("");
}

function showSlices() {
  const contours = $("#contours").checked ? 1 : 0;
  for (const figure of document.querySelectorAll("figure")) {
    const axis = figure.dataset.axis;
    const index = state.slice[axis];
    figure.querySelector("input").value = index;
    figure.querySelector("figcaption").textContent =
      `${axis} ${index + 1} / ${state.case.slices[axis]}`;
    figure.querySelector("img").src = withToken(
      `api/cases/${encodeURIComponent(state.case.id)}/slice/${axis}/${index}.png` +
      `?preset=${state.preset}&contours=${contours}`);
  }
}

function moveSlice(axis, index) {
  const last = state.case.slices[axis] - 1;
  state.slice[axis] = Math.max(0, Math.min(last, index));
  showSlices();
}

function buildForm() {
  const container = $("#regions");
  container.replaceChildren();
  for (const region of state.case.regions) {
    const node = $("#region-template").content.firstElementChild.cloneNode(true);
    node.dataset.region = region.name;
    node.querySelector(".name").textContent = region.name;
    node.querySelector(".swatch").style.background = region.color;
    node.querySelector("legend").addEventListener("click", () => {  // show this region
      state.slice = { ...region.focus };
      showSlices();
    });
    const { qualities, perfect, errors } = state.scale;
    const noError = state.scale.no_error;
    const scores = node.querySelector(".scores");
    for (const q of qualities) {
      const label = document.createElement("label");
      const radio = document.createElement("input");
      Object.assign(radio, { type: "radio", name: `q-${region.name}`, value: String(q) });
      label.append(radio, String(q));
      scores.append(label);
    }
    const error = node.querySelector(".error");
    for (const { name, title } of errors) error.add(new Option(title, name));
    if (region.rating) {
      scores.querySelector(`input[value="${region.rating.quality}"]`).checked = true;
      error.value = region.rating.error;
      node.querySelector(".comment").value = region.rating.comment;
    }
    // The best quality if and only if there is no error.
    scores.addEventListener("change", () => {
      const q = Number(scores.querySelector("input:checked").value);
      if (q === perfect) error.value = noError;
      else if (error.value === noError) error.value = "";
      error.disabled = q === perfect;
    });
    error.addEventListener("change", () => {
      const checked = scores.querySelector("input:checked");
      if (error.value === noError) {
        scores.querySelector(`input[value="${perfect}"]`).checked = true;
        error.disabled = true;
      } else if (checked && Number(checked.value) === perfect) {
        checked.checked = false;
      }
    });
    error.disabled = region.rating !== null && region.rating.quality === perfect;
    node.addEventListener("focusin", () => setCurrent(regionNodes().indexOf(node), false));
    container.append(node);
  }
  setCurrent(0);
}

// -- rating by keyboard: digits pick the quality, the error labels' keys (u, o, b, n) the
// error, Enter the next region (on the last one it saves). The views follow the region.
function regionNodes() { return [...document.querySelectorAll(".region")]; }

function setCurrent(index, showRegion = true) {
  const nodes = regionNodes();
  if (!nodes.length || index < 0) return;
  state.current = Math.min(index, nodes.length - 1);
  nodes.forEach((node, i) => node.classList.toggle("current", i === state.current));
  if (showRegion) nodes[state.current].querySelector("legend").click();
}

function onKey(event) {
  const typing = event.target.matches("input:not([type=radio]), textarea");
  const node = regionNodes()[state.current];
  if (typing || !node || !state.scale || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  const error = state.scale.errors.find((e) => e.key === key);
  if (state.scale.qualities.map(String).includes(key)) {
    const radio = node.querySelector(`.scores input[value="${key}"]`);
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
  } else if (error) {
    const select = node.querySelector(".error");
    select.value = error.name;
    select.dispatchEvent(new Event("change", { bubbles: true }));
  } else if (key === "enter") {
    if (state.current === regionNodes().length - 1) $("#rating-form").requestSubmit();
    else setCurrent(state.current + 1);
  } else {
    return;
  }
  event.preventDefault();
}

function collectRatings() {
  const ratings = [];
  for (const node of document.querySelectorAll(".region")) {
    const checked = node.querySelector(".scores input:checked");
    const error = node.querySelector(".error").value;
    if (!checked || !error) throw new Error(`rate ${node.dataset.region}: quality and error`);
    ratings.push({ region: node.dataset.region, quality: Number(checked.value), error,
                   comment: node.querySelector(".comment").value });
  }
  return ratings;
}

function setStatus(text, kind = "") {
  const status = $("#status");
  status.textContent = text;
  status.className = kind;
}

async function submit(event) {
  event.preventDefault();
  try {
    if (!rater()) throw new Error("enter your name as rater first");
    const body = { rater: rater(), ratings: collectRatings(),
                   seconds: (performance.now() - state.opened) / 1000 };
    const result = await api(`api/cases/${encodeURIComponent(state.case.id)}/ratings`,
                             { method: "POST", body: JSON.stringify(body) });
    const saved = state.case.id;
    await loadCases();
    await openCase(state.index + 1);
    setStatus(`Saved ${result.stored} ratings for ${saved}.`, "ok");
  } catch (error) {
    setStatus(error.message, "error");
  }
}

function wire() {
  $("#rater").value = localStorage.getItem("score-rater") || "";
  $("#rater").addEventListener("change", async () => {
    localStorage.setItem("score-rater", rater());
    await loadCases();
    await openCase(state.index);
  });
  $("#export").href = withToken("api/ratings.csv");
  $("#prev").addEventListener("click", () => openCase(state.index - 1));
  $("#next").addEventListener("click", () => openCase(state.index + 1));
  $("#contours").addEventListener("change", showSlices);
  $("#rating-form").addEventListener("submit", submit);
  document.addEventListener("keydown", onKey);
  for (const button of document.querySelectorAll(".preset")) {
    button.addEventListener("click", () => {
      state.preset = button.dataset.preset;
      document.querySelectorAll(".preset").forEach((b) => b.classList.toggle("active", b === button));
      showSlices();
    });
  }
  for (const figure of document.querySelectorAll("figure")) {
    const axis = figure.dataset.axis;
    figure.querySelector("input").addEventListener("input", (e) => moveSlice(axis, Number(e.target.value)));
    figure.addEventListener("wheel", (e) => {
      e.preventDefault();
      moveSlice(axis, state.slice[axis] + (e.deltaY > 0 ? 1 : -1));
    }, { passive: false });
  }
}

async function start() {
  wire();
  try {
    state.scale = await api("api/scale");
    await loadCases();
    if (!state.cases.length) throw new Error("this workspace has no case yet");
    await openCase(0);
  } catch (error) {
    setStatus(error.message, "error");
  }
}

start();
