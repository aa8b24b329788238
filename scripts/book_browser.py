"""Open pages of the built book in Debian's headless Chromium, offline, and record what a reader would meet.

``BookBrowser(base_url)`` drives /usr/bin/chromium through Playwright (PyPI), never a downloaded browser. Every
request that is not to ``base_url`` is aborted and recorded, so a page that needs the network shows it. For
each page, ``visit()`` returns a ``PageVisit``: HTTP status, uncaught JS errors and console errors, blocked
requests, the bytes it loaded from the book, what MathJax typeset (and any raw TeX left), every image, the
widget views and the controls among them that nothing but a kernel would answer, code blocks wider than their
box, the training animations (before and after pressing play), the launch links, the sidebar and the
previous/next links; it saves a full-page screenshot when asked. ``search()`` runs the book's search page.

Used by tests/test_book_e2e.py and scripts/page_weight.py.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# No background traffic, no first-run work, no sandbox (the tests may run as root, where Chromium's own sandbox
# refuses to start); and a resolver that knows only our server, a second fence behind the request routing below.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
VIEWPORT = {"width": 1280, "height": 900}  # wide enough for the theme to show its sidebar
LOAD_TIMEOUT_MS = 60_000
QUIET_MS = 500            # a page has settled when none of its requests has started or ended for this long
SETTLE_TIMEOUT_MS = 30_000
WIDGET_TIMEOUT_MS = 20_000
ANIMATION_TIMEOUT_MS = 10_000

# Console errors that are not failures of the book: pydata-sphinx-theme logs this on a first visit, when no
# colour mode is stored yet, and then picks "auto" itself.
BENIGN_CONSOLE_ERRORS = [re.compile(r"^Got invalid theme mode: \. Resetting to auto\.$")]


def find_chromium() -> str:
    """Debian's Chromium (or $CHROMIUM); a clear error when it is missing."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Chromium not found: run `scripts/setup_system.sh browser` (apt-get install chromium), "
                           "or set CHROMIUM=/path/to/chromium")
    return path


@dataclass
class PageVisit:
    url: str
    status: int | None = None
    page_errors: list[str] = field(default_factory=list)      # uncaught exceptions in the page
    console_errors: list[str] = field(default_factory=list)   # console.error and failed loads, from the book
    blocked: list[str] = field(default_factory=list)          # requests to anywhere but the book, aborted
    failed_loads: list[str] = field(default_factory=list)     # the book's own resources that failed (4xx/5xx, ...)
    loaded: dict[str, int] = field(default_factory=dict)      # path on the server -> bytes, HTML included
    probe: dict = field(default_factory=dict)                 # what the page shows; see PROBE_JS
    animations: list[dict] = field(default_factory=list)      # per animation: frame before / after pressing play
    quizzes: list[dict] = field(default_factory=list)         # per "Check yourself" quiz: answered as a reader would
    unsettled: list[str] = field(default_factory=list)        # requests still open when the page had to settle
    in_flight: dict[int, str] = field(default_factory=dict, repr=False)  # while visiting: request id -> URL
    last_change: float = field(default=0.0, repr=False)       # while visiting: when a request last started or ended
    screenshot: Path | None = None

    @property
    def total_bytes(self) -> int:
        return sum(self.loaded.values())


# Runs in the page once it has settled. Text inside code, scripts and typeset math is not "visible text":
# a code cell may well contain "$$" in a string.
PROBE_JS = r"""
() => {
  const SKIP = 'script, style, noscript, template, textarea, pre, code, .highlight, mjx-container';
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement && !node.parentElement.closest(SKIP) && node.data.trim()) texts.push(node.data);
  }
  const rawTex = [];
  const patterns = [/\$\$/, /\\\(/, /\\\[/, /\\begin\{/, /\$(?!\s)[^$]*\\[A-Za-z]+[^$]*\$/];
  for (const text of texts) {
    for (const pattern of patterns) {
      const m = pattern.exec(text);
      if (m) { rawTex.push(text.slice(Math.max(0, m.index - 40), m.index + 60).replace(/\s+/g, ' ')); break; }
    }
  }
  const mathElements = [...document.querySelectorAll('.math')];
  const viewScripts = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  const renderedViews = viewScripts.filter(s => {
    const area = s.previousElementSibling;
    return area && area.classList.contains('widget-subarea') && area.querySelector('.jupyter-widgets');
  });
  // Code wider than its box (a horizontal scroll bar) at this viewport: code blocks (cell inputs, printed
  // outputs, code in the text) and the cell input areas themselves.
  const overflows = e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1;
  const codeOverflow = [...document.querySelectorAll('div.highlight pre, .cell_input')]
    .filter(e => overflows(e) && !(e.matches('.cell_input')  // a cell input wide because of its code: said once
                                   && [...e.querySelectorAll('div.highlight pre')].some(overflows)))
    .map(e => { const lines = (e.innerText || '').split('\n');
                const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
                const where = e.closest('.cell_output') ? 'cell output'
                              : e.closest('.cell_input') ? 'cell input' : 'code block';
                return {where,
                        scroll_width: e.scrollWidth, client_width: e.clientWidth,
                        longest_line: longest.slice(0, 100), characters: longest.length}; });
  // Rendered widget views with controls that only a kernel would answer: their models are inputs (sliders,
  // dropdowns, buttons, text fields, ...) and not ends of a jslink/jsdlink link, which runs in the page.
  const stateScript = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
  let widgetModels = {};
  try { widgetModels = stateScript ? JSON.parse(stateScript.textContent).state || {} : {}; } catch (e) {}
  const modelIds = m => (JSON.stringify(m.state || {}).match(/[0-9a-f]{32}/g) || []).filter(id => id in widgetModels);
  const linked = new Set();
  for (const m of Object.values(widgetModels)) {
    if (/^(Directional)?LinkModel$/.test(m.model_name)) modelIds(m).forEach(id => linked.add(id));
  }
  const CONTROL = /^(Int|Float|FloatLog|IntRange|FloatRange|Selection|SelectionRange)SliderModel$|^(Dropdown|Select|SelectMultiple|RadioButtons|ToggleButtons|ToggleButton|Button|Checkbox|Text|Textarea|IntText|FloatText|BoundedIntText|BoundedFloatText|Combobox|Password|Play|ColorPicker|DatePicker|Datetime|NaiveDatetime|Time|TagsInput|ColorsInput|IntsInput|FloatsInput|FileUpload|Controller)Model$/;
  const deadControls = [];
  for (const s of renderedViews) {
    const root = JSON.parse(s.textContent).model_id;
    const seen = new Set(), todo = [root];
    while (todo.length) { const id = todo.pop(); if (seen.has(id) || !(id in widgetModels)) continue;
                          seen.add(id); todo.push(...modelIds(widgetModels[id])); }
    const dead = [...seen].filter(id => CONTROL.test(widgetModels[id].model_name) && !linked.has(id)
                                        && !(widgetModels[id].state || {}).disabled)
                          .map(id => { const m = widgetModels[id];
                                       const label = (m.state || {}).description || '';
                                       return m.model_name.replace(/Model$/, '') + (label ? ` '${label}'` : ''); });
    const inputs = s.previousElementSibling.querySelectorAll('input, select, textarea, button, [role="slider"]').length;
    if (dead.length && inputs) deadControls.push({view: root, controls: dead.sort(), inputs});
  }
  const outputText = [...document.querySelectorAll('.cell_output')].map(e => e.innerText).join('\n');
  const bodyText = document.body.innerText;
  const links = sel => [...document.querySelectorAll(sel)].map(a => a.href);
  const sidebar = document.querySelector('.bd-sidebar-primary');
  return {
    title: document.title,
    mjx_containers: document.querySelectorAll('mjx-container').length,
    math_elements: mathElements.length,
    untypeset_math: mathElements.filter(e => !e.querySelector('mjx-container'))
                                .map(e => e.textContent.trim().slice(0, 80)),
    // TeX errors become merror; an undefined macro is shown as red text (MathJax's noundefined extension).
    math_errors: [...document.querySelectorAll('mjx-merror')]
                   .map(e => e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80))
                   .concat([...document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')]
                             .filter(e => e.textContent.startsWith('\\'))
                             .map(e => 'undefined control sequence ' + e.textContent)),
    raw_tex: rawTex,
    images: [...document.images].map(i => ({src: (i.currentSrc || i.src || '').slice(0, 120),
                                            complete: i.complete, natural_width: i.naturalWidth,
                                            id: i.id, alt: i.alt})),
    widget_state: !!document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]'),
    widget_views: viewScripts.length,
    widget_views_rendered: renderedViews.length,
    widget_elements: document.querySelectorAll('.jupyter-widgets, [class*="widget-"]').length,
    dead_controls: deadControls,
    code_overflow: codeOverflow,
    loading_widget_text: /Loading widget/i.test(bodyText),
    widget_error_text: (bodyText.match(/Error (displaying|rendering) widget[^\n]*/i) || [null])[0],
    bare_widget_reprs: (outputText.match(/\b[A-Z]\w*\((children|value|layout|description|outputs|options)=[^\n]{0,60}/g) || []),
    external_links: links('a[href^="http"]'),
    sidebar_visible: !!sidebar && sidebar.getBoundingClientRect().width > 0
                     && getComputedStyle(sidebar).visibility !== 'hidden',
    sidebar_links: links('.bd-sidebar-primary nav a.reference.internal'),
    prev: links('a.left-prev')[0] || null,
    next: links('a.right-next')[0] || null,
    lang: document.documentElement.lang,
    // The header's links to the same page in the other language, as written and as resolved, and the
    // <link rel="alternate" hreflang> pair that tells search engines about both editions.
    language_links: [...document.querySelectorAll('a.course-language-link')]
                      .map(a => ({hreflang: a.hreflang, href: a.getAttribute('href'), url: a.href})),
    alternates: [...document.querySelectorAll('link[rel=alternate][hreflang]')].map(l => [l.hreflang, l.href]),
    // The page's chrome: every text and label outside the article (the theme's words), for the language check.
    chrome_text: (() => {
      const out = [], attributes = ['title', 'aria-label', 'placeholder', 'alt', 'data-bs-title'];
      const outside = e => !e.closest('article.bd-article') && !e.closest(SKIP);
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode())
        if (n.parentElement && outside(n.parentElement) && n.data.trim()) out.push(n.data.trim());
      for (const e of document.body.querySelectorAll('[title], [aria-label], [placeholder], img[alt], [data-bs-title]'))
        if (outside(e)) for (const a of attributes) if (e.getAttribute(a)) out.push(e.getAttribute(a));
      return out;
    })(),
  };
}
"""

ANIMATIONS_JS = r"""
() => [...document.querySelectorAll('.animation')].map(a => {
  const img = a.querySelector('img[id^="_anim_img"]');
  const slider = a.querySelector('input.anim-slider');
  return {id: img ? img.id : null, frames: slider ? Number(slider.max) + 1 : 0,
          has_play: !!a.querySelector('button[title="Play"]')};
})
"""

FRAME_JS = r"""
(id) => {
  const img = document.getElementById(id);
  const slider = img.closest('.animation').querySelector('input.anim-slider');
  return {slider: slider ? slider.value : null, src_length: (img.src || '').length, src_tail: (img.src || '').slice(-64)};
}
"""

SETTLE_JS = r"""
async () => {
  // Scroll through the page so that lazy images and observers fire, then wait for what is still loading.
  for (let y = 0; y < document.body.scrollHeight; y += window.innerHeight) {
    window.scrollTo(0, y);
    await new Promise(r => setTimeout(r, 30));
  }
  window.scrollTo(0, 0);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await Promise.all([...document.images].map(i => i.complete ? null
                     : new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
}
"""

WIDGETS_DONE_JS = r"""
() => {
  const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  return views.every(s => { const a = s.previousElementSibling;
                            return a && a.classList.contains('widget-subarea') && a.querySelector('.jupyter-widgets'); });
}
"""


# In the page's light or dark theme (pydata-sphinx-theme's html[data-theme]): the contrast ratio (WCAG) of a quiz's
# text, and of its right/wrong colours, against the background it is drawn on.
QUIZ_CONTRAST_JS = r"""
(quiz, theme) => {
  const html = document.documentElement, before = html.dataset.theme;
  html.dataset.theme = theme;
  const rgba = s => (s.match(/[\d.]+/g) || [0, 0, 0, 0]).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
                       return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  let background = [255, 255, 255];
  for (let e = quiz; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || c[3] > 0.5) { background = c; break; }
  }
  const colour = value => { const probe = document.createElement('span'); probe.style.color = value;
                            quiz.appendChild(probe); const c = rgba(getComputedStyle(probe).color); probe.remove(); return c; };
  const style = getComputedStyle(quiz);
  const out = {text: ratio(rgba(style.color), background),
               right: ratio(colour(style.getPropertyValue('--cq-right')), background),
               wrong: ratio(colour(style.getPropertyValue('--cq-wrong')), background)};
  if (before === undefined) delete html.dataset.theme; else html.dataset.theme = before;
  return out;
}
"""


class BookBrowser:
    """One headless Chromium for a run; each page opens in a fresh context (no cache, no stored state), as a
    first-time reader meets it."""

    def __init__(self, base_url: str, widget_timeout_ms: int = WIDGET_TIMEOUT_MS):
        self.base_url = base_url.rstrip("/")
        self.widget_timeout_ms = widget_timeout_ms
        self._origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))

    def __enter__(self):
        from playwright.sync_api import sync_playwright  # imported here: only browser runs need it

        self._playwright = sync_playwright().start()
        try:
            # Playwright starts Chromium with a fresh temporary --user-data-dir: no profile carries over between runs.
            self._browser = self._playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS,
                                                             headless=True)
        except Exception:
            self._playwright.stop()
            raise
        return self

    def __exit__(self, *exc):
        self._browser.close()
        self._playwright.stop()

    def _is_ours(self, url: str) -> bool:
        return url.startswith(self._origin + "/") or url == self._origin

    def _open(self, visit: PageVisit):
        context = self._browser.new_context(viewport=VIEWPORT, service_workers="block")

        def route(route):
            if self._is_ours(route.request.url):
                route.continue_()
            else:
                visit.blocked.append(route.request.url)
                route.abort("internetdisconnected")

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda error: visit.page_errors.append(f"{error.name}: {error.message}"))

        def console(message):
            if message.type != "error":
                return
            where = message.location.get("url", "") if message.location else ""
            if where and not self._is_ours(where):
                return  # a blocked request's failure: already in visit.blocked
            if any(p.search(message.text) for p in BENIGN_CONSOLE_ERRORS):
                return
            if message.text.startswith("Failed to load resource"):
                return  # the book's own failed loads are in visit.failed_loads, with their paths
            visit.console_errors.append(f"{message.text} (at {where or 'page'})")

        page.on("console", console)

        def response(resp):
            if not self._is_ours(resp.url):
                return
            path = urlsplit(resp.url).path
            if resp.status >= 400:
                visit.failed_loads.append(f"{resp.status} {path}")
            visit.loaded[path] = int(resp.headers.get("content-length") or 0)

        page.on("response", response)
        def request_failed(request):
            path = urlsplit(request.url).path
            # a 404 is also reported as an aborted request: keep the status line only
            if self._is_ours(request.url) and not any(f.endswith(" " + path) for f in visit.failed_loads):
                visit.failed_loads.append(f"{request.failure} {path}")

        page.on("requestfailed", request_failed)

        # Requests in flight are counted here rather than left to Playwright's "networkidle": under load that wait
        # has timed out on a page with no request open, and when a request really hangs it cannot say which.
        visit.last_change = time.monotonic()

        def started(request):
            visit.in_flight[id(request)] = request.url
            visit.last_change = time.monotonic()

        def ended(request):
            visit.in_flight.pop(id(request), None)
            visit.last_change = time.monotonic()

        context.on("request", started)
        context.on("requestfinished", ended)
        context.on("requestfailed", ended)
        return context, page

    @staticmethod
    def _settle(page, visit: PageVisit) -> None:
        """Wait until no request has been open, started or ended for QUIET_MS; after SETTLE_TIMEOUT_MS go on and
        record what is still open in ``visit.unsettled`` (the tests fail the page, naming those URLs)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            if not visit.in_flight and time.monotonic() - visit.last_change >= QUIET_MS / 1000:
                return
            page.wait_for_timeout(50)  # lets Playwright deliver the request events meanwhile
        visit.unsettled = sorted(set(visit.in_flight.values()))

    def visit(self, path: str, screenshot: Path | None = None, play_animations: bool = True,
              try_quizzes: bool = True, widget_timeout_ms: int | None = None, full_page: bool = False) -> PageVisit:
        """Open ``path`` (relative to the book), let it settle, and record what it shows; ``screenshot`` saves
        the first screen, or the whole page with ``full_page`` (a few seconds more for a long chapter)."""
        visit = PageVisit(url=f"{self.base_url}/{path}")
        context, page = self._open(visit)
        try:
            response = page.goto(visit.url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
            visit.status = response.status if response else None
            self._settle(page, visit)
            page.evaluate(SETTLE_JS)
            try:  # the widget manager renders views asynchronously, after the load event
                page.wait_for_function(WIDGETS_DONE_JS, timeout=widget_timeout_ms or self.widget_timeout_ms)
            except Exception:
                pass  # recorded by the probe below: views rendered < views
            self._settle(page, visit)  # fonts and chunks the widgets pulled in
            visit.probe = page.evaluate(PROBE_JS)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=full_page)
                visit.screenshot = screenshot
            if play_animations:
                visit.animations = self._play_animations(page)
            if try_quizzes:
                visit.quizzes = self._try_quizzes(page)
        finally:
            context.close()
        return visit

    @staticmethod
    def _try_quizzes(page) -> list[dict]:
        """Answer each quiz's first multiple-choice question wrongly, then rightly, and its first numeric question,
        with the mouse and the Enter key, and record what the page showed (book/quiz/ makes these quizzes)."""
        results = []
        quizzes = page.locator(".cq-quiz")
        for i in range(quizzes.count()):
            quiz = quizzes.nth(i)
            result = {"name": quiz.get_attribute("data-quiz"), "ready": quiz.get_attribute("data-ready") == "true",
                      "questions": quiz.locator(".cq-question").count(), "wrong_explained": None,
                      "right_marked": None, "number_checked": None, "contrast": None, "error": None}
            try:
                choice = quiz.locator('.cq-question[data-kind="choice"]').first
                if choice.count():
                    wrong = choice.locator('.cq-option[data-correct="false"]').first
                    wrong.click(timeout=5_000)
                    shown = choice.locator(f'.cq-explanation[data-for="{wrong.get_attribute("data-option")}"]')
                    result["wrong_explained"] = shown.is_visible() and bool(shown.inner_text().strip())
                    right = choice.locator('.cq-option[data-correct="true"]')
                    right.click(timeout=5_000)
                    result["right_marked"] = ("cq-right" in (right.get_attribute("class") or "")
                                              and choice.get_attribute("data-state") == "right")
                number = quiz.locator('.cq-question[data-kind="number"]').first
                if number.count():
                    field = number.locator(".cq-input")
                    field.fill(number.locator(".cq-number").get_attribute("data-answer"), timeout=5_000)
                    field.press("Enter")
                    result["number_checked"] = number.get_attribute("data-state") == "right"
                result["contrast"] = {theme: quiz.evaluate(QUIZ_CONTRAST_JS, theme) for theme in ("light", "dark")}
            except Exception as error:  # noqa: BLE001 - recorded, judged by the test
                result["error"] = str(error).splitlines()[0]
            results.append(result)
        return results

    @staticmethod
    def _play_animations(page) -> list[dict]:
        """Press each animation's Play button, as a reader would, and record its frame before and after."""
        results = []
        for animation in page.evaluate(ANIMATIONS_JS):
            result = dict(animation, before=None, after=None, changed=False, error=None)
            if animation["id"] and animation["has_play"]:
                result["before"] = page.evaluate(FRAME_JS, animation["id"])
                container = page.locator(f'.animation:has(img[id="{animation["id"]}"])')
                container.locator('button[title="Play"]').click()
                try:
                    page.wait_for_function(
                        "([id, before]) => { const f = (" + FRAME_JS + ")(id);"
                        " return f.slider !== before.slider || f.src_tail !== before.src_tail; }",
                        arg=[animation["id"], result["before"]], timeout=ANIMATION_TIMEOUT_MS)
                except Exception as error:  # noqa: BLE001 - recorded, judged by the test
                    result["error"] = str(error).splitlines()[0]
                result["after"] = page.evaluate(FRAME_JS, animation["id"])
                result["changed"] = result["after"] != result["before"]
            results.append(result)
        return results

    def search(self, query: str, timeout_ms: int = 30_000) -> tuple[PageVisit, list[str]]:
        """Load search.html?q=<query> and return the visit and the result links Sphinx's search lists."""
        visit = PageVisit(url=f"{self.base_url}/search.html?q={query}")
        context, page = self._open(visit)
        try:
            response = page.goto(visit.url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
            visit.status = response.status if response else None
            try:  # searchtools.js writes "Search finished, found N page(s)" once the index has been searched
                page.wait_for_function("() => /Search finished|found \\d+ page|搜索完成/i.test("
                                       "(document.querySelector('#search-results') || {}).innerText || '')",
                                       timeout=timeout_ms)
            except Exception:
                pass  # no results: the test says so with what the page shows
            results = page.evaluate("() => [...document.querySelectorAll('#search-results ul.search li a')]"
                                    ".map(a => a.href)")
            visit.probe = {"search_text": page.evaluate(
                "() => ((document.querySelector('#search-results') || {}).innerText || '').slice(0, 300)")}
        finally:
            context.close()
        return visit, results
