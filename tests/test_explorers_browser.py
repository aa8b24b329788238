"""The explorers in headless Chromium, with no network: what the page computes equals what `book` computes.

Pages are generated from the Python objects (``book.explorers.standalone_page``) and served on 127.0.0.1; every
other request is aborted and recorded. Each explorer is driven by keyboard and by mouse, and the numbers it shows
are compared with the reference computed here by ``book`` (softmax, cross-entropy and its gradient within 1e-6,
in-page training against ``book.train`` within 1e-4); settings go through the URL hash and back; the pages raise
no error and request nothing, work in dark mode and at 375 px. The built book's pages that hold explorers are
tests/test_explorers_in_the_book.py's.

Chromium is Debian's (scripts/book_browser.py finds it, with the flags of the course's other browser tests).
"""

import math
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

import book_browser
import book_site
from book.cross_entropy import cross_entropy, cross_entropy_grad
from book.evaluation import accuracy_interval
from book.explorers import (SeededRandom, cross_entropy_explorer, decision_boundary_explorer, fit_2d,
                            learning_rate_explorer, softmax_explorer, standalone_page, toy_2d,
                            train_softmax_regression)
from book.explorers.page import strings
from book.explorers.training import fashion_subset, initial_weights
from book.softmax import entropy, softmax

pytestmark = pytest.mark.slow

SETTLE_MS = 60_000
NARROW = {"width": 375, "height": 800}
WIDE = {"width": 1000, "height": 900}

SETTLED_JS = """
(kind) => [...document.querySelectorAll(kind ? `.sx-root[data-kind="${kind}"]` : '.sx-root')].every(root => {
  const e = root.sxExplorer;
  if (!e) return false;
  const v = e.values();
  return v.done === undefined || (v.done && !v.running);
})
"""
CORE_JS = "Object.entries(globalThis.__softmaxCourse).find(([key]) => key.startsWith('core@'))[1]"


def values(page, kind: str, index: int = 0) -> dict:
    return page.evaluate("([kind, i]) => document.querySelectorAll(`.sx-root[data-kind=\"${kind}\"]`)[i]"
                         ".sxExplorer.values()", [kind, index])


def settings(page, kind: str, index: int = 0) -> dict:
    return page.evaluate("([kind, i]) => document.querySelectorAll(`.sx-root[data-kind=\"${kind}\"]`)[i]"
                         ".sxExplorer.settings()", [kind, index])


def settle(page, kind: str | None = None) -> None:
    page.wait_for_function(SETTLED_JS, arg=kind, timeout=SETTLE_MS)


def close(a, b, tol: float) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The generated pages, served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("explorers")
    explorers = {"softmax": softmax_explorer(), "xent": cross_entropy_explorer(),
                 "train": learning_rate_explorer(), "boundary": decision_boundary_explorer()}
    for kind, explorer in explorers.items():
        (root / f"{kind}.html").write_text(standalone_page(explorer, title=kind))
    for theme in ("light", "dark"):
        (root / f"all-{theme}.html").write_text(standalone_page(*explorers.values(), theme=theme))
    (root / "two.html").write_text(standalone_page(softmax_explorer(), softmax_explorer(logits=(0, 1), temperature=2)))
    with book_site.serve(root) as base:
        yield base


class Session:
    """One page in a fresh browser context: requests to anything but the page's server are aborted and kept,
    with console errors, uncaught exceptions and every path loaded."""

    def __init__(self, browser, base: str, viewport: dict, color_scheme: str = "light"):
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
        self.blocked, self.errors, self.loaded = [], [], []
        self.context = browser.new_context(viewport=viewport, color_scheme=color_scheme, service_workers="block")
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught {error}"))
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type == "error" and not any(p.search(m.text) for p in book_browser.BENIGN_CONSOLE_ERRORS)
                     else None)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.origin + "/"):
            self.loaded.append(urlsplit(url).path)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def open(self, url: str):
        self.page.goto(url, wait_until="load")
        return self.page

    def clean(self) -> None:
        assert not self.errors, self.errors
        assert not self.blocked, f"requests outside the page: {self.blocked}"


@pytest.fixture
def session(chromium, site):
    sessions = []

    def start(viewport=WIDE, color_scheme="light"):
        s = Session(chromium, site, viewport, color_scheme)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.context.close()


def slider(page, kind: str, label: str):
    return page.locator(f'.sx-root[data-kind="{kind}"] .sx-row:has(label:text-is("{label}")) input[type=range]')


def click_track(page, locator, fraction: float) -> None:
    box = locator.bounding_box()
    page.mouse.click(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)


def wait_for_hash(page, kind: str, index: int = 0) -> str:
    """The page's URL once its hash holds every current setting of the explorer (the page writes it 120 ms
    after the last change)."""
    page.wait_for_function("""([kind, i]) => {
        const root = document.querySelectorAll(`.sx-root[data-kind="${kind}"]`)[i];
        const ns = i > 0 ? `${kind}-${i + 1}` : kind;
        const parts = decodeURIComponent(location.hash.slice(1)).split('&');
        return Object.entries(root.sxExplorer.settings()).every(([k, v]) => parts.includes(`${ns}.${k}=${v}`));
    }""", arg=[kind, index])
    return page.url


# --- the shared generator --------------------------------------------------------------------------------------

def test_the_page_draws_the_same_random_numbers_as_python(session, site):
    s = session()
    page = s.open(f"{site}/softmax.html")
    for seed in (0, 1, 2 ** 32 - 1, 123_456):
        js = page.evaluate(f"""(seed) => {{ const core = {CORE_JS}; const r = core.prng(seed);
            const ints = Array.from({{length: 500}}, () => r.nextUint32());
            const normals = Array.from({{length: 50}}, () => r.normal());
            return {{ints, normals, order: Array.from(r.permutation(40)), u: r.uniform()}}; }}""", seed)
        rng = SeededRandom(seed)
        assert js["ints"] == [rng.next_uint32() for _ in range(500)]  # bit for bit
        assert close(js["normals"], [rng.normal() for _ in range(50)], 1e-14)
        assert js["order"] == rng.permutation(40)
        assert js["u"] == rng.uniform()
    s.clean()


# --- softmax and temperature ---------------------------------------------------------------------------------

def softmax_reference(o, t):
    p = softmax(torch.tensor(o, dtype=torch.float64), t)
    return p.tolist(), entropy(p).item()


def check_softmax_page(page, index: int = 0, language: str = "en") -> dict:
    v = values(page, "softmax", index)
    p, h = softmax_reference(v["logits"], v["temperature"])
    assert close(v["probabilities"], p, 1e-6) and abs(v["entropy"] - h) <= 1e-6
    root = page.locator(".sx-root[data-kind=softmax]").nth(index)
    winner = max(range(len(p)), key=p.__getitem__)
    assert root.locator(".sx-readout").inner_text() == strings(language)["softmax.readout"].format(
        entropy=f"{h:.3f}", max=f"{math.log(len(p)):.3f}", p=f"{p[winner]:.3f}", winner=winner)
    assert root.locator("svg").nth(1).locator(".sx-bar-label").all_text_contents() == [f"{x:.3f}" for x in p]
    return v


def test_softmax_explorer_by_keyboard_and_mouse_matches_book_softmax(session, site):
    s = session()
    page = s.open(f"{site}/softmax.html")
    settle(page)
    before = check_softmax_page(page)
    assert before["logits"] == [2.0, 1.0, 0.1, -1.0] and before["temperature"] == 1

    temperature = slider(page, "softmax", "temperature T")
    temperature.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    after_keys = check_softmax_page(page)
    assert after_keys["temperature"] == pytest.approx(10 ** 0.2, rel=1e-2) and after_keys["entropy"] > before["entropy"]

    click_track(page, page.locator(".sx-root[data-kind=softmax] input[type=range]").nth(3), 0.95)
    after_mouse = check_softmax_page(page)
    assert after_mouse["logits"][3] > 4 and after_mouse["logits"][:3] == before["logits"][:3]
    assert max(range(4), key=after_mouse["probabilities"].__getitem__) == 3

    url = wait_for_hash(page, "softmax")
    restored = session()
    page2 = restored.open(url)
    settle(page2)
    assert settings(page2, "softmax") == {"o": after_mouse["logits"], "T": after_mouse["temperature"]}
    assert check_softmax_page(page2) == after_mouse
    assert page2.evaluate("document.querySelector('.sx-root').sxExplorer.fromLink")
    s.clean()
    restored.clean()
    assert s.loaded == ["/softmax.html"]  # everything the explorer needs is in the page


# --- cross-entropy and its gradient ---------------------------------------------------------------------------

def check_xent_page(page) -> dict:
    v = values(page, "xent")
    z = torch.tensor([v["logits"]], dtype=torch.float64)
    y = torch.tensor([v["true_class"]])
    loss = cross_entropy(z, y).item()
    grad = cross_entropy_grad(z, y)[0].tolist()
    assert abs(v["loss"] - loss) <= 1e-6 and close(v["gradient"], grad, 1e-6)
    assert close(v["probabilities"], softmax(z[0]).tolist(), 1e-6)
    root = page.locator(".sx-root[data-kind=xent]")
    assert root.locator(".sx-readout").inner_text().startswith(
        f"loss = −log p_y = {loss:.4f}, with p_y = {math.exp(-loss):.4f} the probability of the true class "
        f"{v['true_class']};")
    assert root.locator("svg").nth(1).locator(".sx-bar-label").all_text_contents() == [f"{g:.2f}" for g in grad]
    return v


def test_cross_entropy_explorer_by_keyboard_and_mouse_matches_book(session, site):
    s = session()
    page = s.open(f"{site}/xent.html")
    settle(page)
    before = check_xent_page(page)
    assert before["true_class"] == 0

    page.locator(".sx-root[data-kind=xent] input[type=radio]").nth(0).focus()
    page.keyboard.press("ArrowRight")  # true class 0 -> 1, the largest logit: a small loss
    by_keys = check_xent_page(page)
    assert by_keys["true_class"] == 1 and by_keys["loss"] < before["loss"]

    page.locator(".sx-root[data-kind=xent] .sx-radio", has_text="2").click()
    by_mouse = check_xent_page(page)
    assert by_mouse["true_class"] == 2

    logits = page.locator(".sx-root[data-kind=xent] input[type=range]")
    first_logit = logits.nth(0)
    first_logit.focus()
    page.keyboard.press("End")  # o0 = 5: class 2 now far behind
    worse = check_xent_page(page)
    assert worse["logits"][0] == 5 and worse["loss"] > by_mouse["loss"]
    click_track(page, logits.nth(2), 0.99)
    check_xent_page(page)

    url = wait_for_hash(page, "xent")
    page2 = session().open(url)
    settle(page2)
    assert check_xent_page(page2) == values(page, "xent")
    s.clean()


# --- training in the page ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def subset_tensors():
    return fashion_subset().tensors()


def check_training_page(page, subset_tensors) -> dict:
    """The page's run against train_softmax_regression (book.train) at the page's settings."""
    v = values(page, "train")
    s = v["settings"]
    assert v["done"] and not v["error"]
    ref = train_softmax_regression(*subset_tensors, lr=s["lr"], batch_size=s["batch"], epochs=s["epochs"],
                                   seed=s["seed"])
    assert len(v["epochs"]) == len(ref.history) == s["epochs"] + 1
    assert close(v["step_losses"], ref.step_losses, 1e-4)
    for mine, theirs in zip(v["epochs"], ref.history):
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert (key in mine) == (key in theirs)
            if key in mine:
                assert abs(mine[key] - theirs[key]) <= 1e-4, (key, mine, theirs)
        assert mine["val_correct"] == theirs["val_correct"]
    last = ref.history[-1]
    summary = page.locator(".sx-root[data-kind=train] .sx-readout").inner_text()
    assert f"validation accuracy {accuracy_interval(last['val_correct'], 500)}" in summary
    assert f"validation loss {last['val_loss']:.4f}" in summary
    return v


def test_in_page_training_equals_book_train(session, site, subset_tensors):
    s = session()
    page = s.open(f"{site}/train.html")
    settle(page)
    v = check_training_page(page, subset_tensors)
    assert v["settings"] == {"lr": 0.1, "batch": 256, "epochs": 10, "seed": 0}
    W, b = initial_weights(196, 10, SeededRandom(0))
    page.get_by_role("button", name="Reset").click()
    assert values(page, "train")["epoch"] == 0
    weights = page.evaluate("document.querySelector('.sx-root').sxExplorer.weights()")
    assert close(weights["W"], W.flatten().tolist(), 1e-15) and weights["b"] == b.tolist()
    s.clean()
    assert s.loaded == ["/train.html"]


def test_training_controls_by_keyboard_and_mouse_then_the_link(session, site, subset_tensors):
    s = session()
    page = s.open(f"{site}/train.html")
    settle(page)
    epochs = slider(page, "train", "epochs")
    epochs.focus()
    for _ in range(6):
        page.keyboard.press("ArrowLeft")  # 10 -> 4 epochs: recomputed at once
    settle(page, "train")
    assert values(page, "train")["settings"]["epochs"] == 4
    check_training_page(page, subset_tensors)

    rate = slider(page, "train", "learning rate")
    rate.focus()
    page.keyboard.press("ArrowRight")  # 0.1 -> 0.2: a new run, played
    page.wait_for_function("document.querySelector('.sx-root').sxExplorer.values().running", timeout=SETTLE_MS)
    settle(page, "train")
    assert values(page, "train")["settings"]["lr"] == 0.2
    check_training_page(page, subset_tensors)

    page.locator(".sx-root[data-kind=train] .sx-radio", has_text=re.compile(r"^64$")).click()
    settle(page, "train")
    run = check_training_page(page, subset_tensors)
    assert run["settings"] == {"lr": 0.2, "batch": 64, "epochs": 4, "seed": 0} and run["steps_per_epoch"] == 32

    seed = page.locator(".sx-root[data-kind=train] input[type=number]")
    seed.fill("7")
    seed.press("Enter")
    settle(page, "train")
    assert check_training_page(page, subset_tensors)["settings"]["seed"] == 7

    url = wait_for_hash(page, "train")
    assert "train.lr=0.2" in url and "train.batch=64" in url
    page2 = session().open(url)
    settle(page2)
    restored = check_training_page(page2, subset_tensors)
    assert restored["settings"] == {"lr": 0.2, "batch": 64, "epochs": 4, "seed": 7}
    assert restored["epochs"] == values(page, "train")["epochs"]
    assert page2.locator(".sx-root[data-kind=train] input[type=number]").input_value() == "7"
    s.clean()


def test_training_play_pause_and_step(session, site, subset_tensors):
    s = session()
    page = s.open(f"{site}/train.html")
    settle(page)
    root = page.locator(".sx-root[data-kind=train]")
    root.get_by_role("button", name="Reset").click()
    first_chart = root.locator("svg").first.inner_html()
    root.get_by_role("button", name="Step one epoch").click()
    v = values(page, "train")
    assert v["epoch"] == 1 and len(v["epochs"]) == 2 and not v["running"]
    assert root.locator("svg").first.inner_html() != first_chart
    ref = train_softmax_regression(*subset_tensors, lr=0.1, batch_size=256, epochs=1, seed=0)
    assert close(v["step_losses"], ref.step_losses, 1e-4)
    assert abs(v["epochs"][1]["val_loss"] - ref.history[1]["val_loss"]) <= 1e-4

    play = root.get_by_role("button", name=re.compile("Play"))
    play.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('.sx-root').sxExplorer.values().running")
    root.get_by_role("button", name=re.compile("Pause")).click()
    paused = values(page, "train")
    assert not paused["running"] and 1 <= paused["epoch"] <= 10
    root.get_by_role("button", name=re.compile("Play")).click()
    settle(page)
    check_training_page(page, subset_tensors)
    s.clean()


# --- decision boundaries -------------------------------------------------------------------------------------

def check_boundary_page(page) -> dict:
    v = values(page, "boundary")
    s = v["settings"]
    X, y = toy_2d(s["data"], 100, noise=s["noise"], seed=s["seed"], dtype=torch.float64)
    assert close(v["data"]["X"], X.flatten().tolist(), 1e-12) and v["data"]["y"] == y.tolist()
    captions = page.locator(".sx-root[data-kind=boundary] .sx-caption").all_inner_texts()
    for name, caption in zip(("softmax", "mlp"), captions):
        model, acc = fit_2d(X, y, name, hidden=s["hidden"], steps=v["step"], lr=s["lr"], seed=s["seed"])
        with torch.no_grad():
            loss = cross_entropy(model(X), y).item()
        mine = v["models"][name]
        assert abs(mine["loss"] - loss) <= 1e-6 * max(1, loss), (name, mine, loss)
        assert mine["correct"] == round(acc * len(y)), (name, mine, acc)
        assert f"training accuracy {100 * acc:.2f} % ({mine['correct']} of {len(y)}), loss {loss:.4f}" in caption
    return v


def canvas_pictures(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('.sx-root[data-kind=boundary] canvas')]"
                         ".map(c => c.toDataURL())")


def test_decision_boundaries_by_keyboard_and_mouse_match_fit_2d(session, site):
    s = session()
    page = s.open(f"{site}/boundary.html")
    settle(page)
    v = check_boundary_page(page)
    assert v["settings"]["data"] == "spiral" and v["step"] == 300
    assert v["models"]["mlp"]["correct"] > v["models"]["softmax"]["correct"]
    pictures = canvas_pictures(page)

    page.locator(".sx-root[data-kind=boundary] input[type=radio][value=spiral]").focus()
    page.keyboard.press("ArrowRight")  # spiral -> blobs, with its own noise
    settle(page, "boundary")
    blobs = check_boundary_page(page)
    assert blobs["settings"]["data"] == "blobs" and blobs["settings"]["noise"] == 0.6
    assert canvas_pictures(page) != pictures

    root = page.locator(".sx-root[data-kind=boundary]")
    root.locator(".sx-radio", has_text="moons").click()
    root.locator("fieldset:has(legend:text-is('hidden units')) .sx-radio", has_text=re.compile(r"^4$")).click()
    settle(page, "boundary")
    moons = check_boundary_page(page)
    assert moons["settings"]["hidden"] == 4 and set(moons["data"]["y"]) == {0, 1}

    steps = slider(page, "boundary", "Adam steps")
    steps.focus()
    page.keyboard.press("ArrowLeft")  # 300 -> 200 steps: recomputed at once
    settle(page, "boundary")
    assert check_boundary_page(page)["step"] == 200

    url = wait_for_hash(page, "boundary")
    page2 = session().open(url)
    settle(page2)
    again = check_boundary_page(page2)
    assert again["settings"] == values(page, "boundary")["settings"] and again["models"] == values(page, "boundary")["models"]
    s.clean()


# --- the page as a whole ---------------------------------------------------------------------------------------

def test_two_explorers_of_a_kind_keep_their_own_settings_in_the_link(session, site):
    s = session()
    page = s.open(f"{site}/two.html")
    settle(page)
    assert values(page, "softmax", 1)["logits"] == [0, 1]
    click_track(page, slider(page, "softmax", "temperature T").nth(1), 0.1)
    second = check_softmax_page(page, 1)
    url = wait_for_hash(page, "softmax", 1)
    assert "softmax.T" not in url and check_softmax_page(page, 0)["temperature"] == 1
    page2 = session().open(url)
    settle(page2)
    assert check_softmax_page(page2, 1) == second and values(page2, "softmax", 0)["temperature"] == 1
    s.clean()


def test_a_link_with_bad_settings_keeps_the_defaults_and_says_so(session, site):
    s = session()
    page = s.open(f"{site}/softmax.html#intro&softmax.T=abc&softmax.o=1,2")
    settle(page)
    assert values(page, "softmax")["temperature"] == 1
    note = page.locator(".sx-root .sx-note").inner_text()
    assert "softmax.T=abc" in note and "softmax.o=1,2" in note
    slider(page, "softmax", "temperature T").focus()
    page.keyboard.press("ArrowRight")
    url = wait_for_hash(page, "softmax")
    assert urlsplit(url).fragment.startswith("intro&")  # another part of the hash is left alone
    s.clean()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_all_explorers_fit_a_375_px_screen_and_a_wide_one(session, site, scheme):
    for viewport in (NARROW, WIDE):
        s = session(viewport)
        page = s.open(f"{site}/all-{scheme}.html")
        settle(page)
        widths = page.evaluate("""() => ({page: document.documentElement.scrollWidth,
            overflowing: [...document.querySelectorAll('.sx-root')].filter(r => r.scrollWidth > r.clientWidth)
                           .map(r => r.dataset.kind),
            sliders: [...document.querySelectorAll('.sx-root input[type=range]')]
                       .map(i => i.getBoundingClientRect().width)})""")
        assert widths["page"] <= viewport["width"] and not widths["overflowing"], widths
        assert min(widths["sliders"]) >= 200, widths["sliders"]
        labelled = page.evaluate("[...document.querySelectorAll('.sx-root input')].every(i => i.labels.length > 0 "
                                 "|| i.closest('label'))")
        assert labelled
        s.clean()


def luminance(css_colour: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css_colour)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_dark_mode_draws_light_ink_on_the_dark_page(session, site):
    colours = {}
    for scheme in ("light", "dark"):
        page = session().open(f"{site}/all-{scheme}.html")
        settle(page)
        colours[scheme] = page.evaluate("""() => ({
            text: getComputedStyle(document.querySelector('.sx-readout')).color,
            axis: getComputedStyle(document.querySelector('.sx-axis text')).fill,
            bar: getComputedStyle(document.querySelector('.sx-bar:not(.sx-accent)')).fill,
            point: getComputedStyle(document.querySelector('.sx-root')).getPropertyValue('--sx-c0')})""")
    assert luminance(colours["dark"]["text"]) > 0.6 > 0.3 > luminance(colours["light"]["text"])
    assert luminance(colours["dark"]["axis"]) > 0.6 and luminance(colours["dark"]["bar"]) > 0.45
    assert colours["dark"]["point"] != colours["light"]["point"]
