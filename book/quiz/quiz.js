// quiz.js: checks the answers of a "Check yourself" quiz in the browser, with no kernel and no network.
//
// This file is one JavaScript expression. book/quiz/page.py inlines it into each quiz's HTML output and keeps
// one copy per page and version: registry["quiz@<hash>"] = registry["quiz@<hash>"] || (<this file>).
// Questions, options and every explanation are already in the markup (hidden); this only shows the right ones.
// Classic script, ES2017: runs in the static book, in JupyterLab (trusted output), in Colab, in a saved page.
(function () {
  "use strict";

  function show(question, pick) {  // show the explanations pick() selects, hide the others
    question.querySelectorAll(".cq-explanation").forEach(function (el) { el.hidden = !pick(el); });
  }

  function updateScore(root) {
    var questions = root.querySelectorAll(".cq-question");
    var right = root.querySelectorAll('.cq-question[data-state="right"]').length;
    var score = root.querySelector(".cq-score");
    score.textContent = root.dataset.score.replace("{right}", right).replace("{total}", questions.length);
  }

  function choose(root, question, button) {
    var correct = button.dataset.correct === "true";
    question.querySelectorAll(".cq-option").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
    button.setAttribute("aria-pressed", "true");
    button.classList.add(correct ? "cq-right" : "cq-wrong");
    var mark = button.querySelector(".cq-mark");
    mark.textContent = correct ? "\u2713" : "\u2717";  // check mark, ballot x
    mark.title = (correct ? root.dataset.markRight : root.dataset.markWrong) || (correct ? "correct" : "wrong");
    show(question, function (el) { return el.dataset.for === button.dataset.option; });
    if (correct) question.dataset.state = "right";
    else if (question.dataset.state !== "right") question.dataset.state = "wrong";
    updateScore(root);
  }

  // "0.25", "-3", "1e-3", ".5", "66.5 %", with a Unicode minus; commas as thousands separators ("7,850") or,
  // where they cannot be that, as a decimal comma ("0,25", "1,5").
  function parseNumber(text) {
    var t = text.trim().replace(/\u2212/g, "-").replace(/\s*%$/, "");
    if (/^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?$/.test(t)) t = t.replace(/,/g, "");
    else if (/^[+-]?\d+,\d+$/.test(t)) t = t.replace(",", ".");
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
    return Number(t);
  }

  function near(value, answer, tolerance) {
    return Math.abs(value - answer) <= tolerance * (1 + 1e-9);  // the edge of the tolerance counts as right
  }

  function checkNumber(root, question) {
    var box = question.querySelector(".cq-number");
    var input = question.querySelector(".cq-input");
    var value = parseNumber(input.value);
    if (value === null) {
      input.setAttribute("aria-invalid", "true");
      show(question, function (el) { return el.dataset.for === "invalid"; });
      return;
    }
    var correct = near(value, Number(box.dataset.answer), Number(box.dataset.tolerance));
    input.setAttribute("aria-invalid", correct ? "false" : "true");
    box.classList.toggle("cq-right", correct);
    box.classList.toggle("cq-wrong", !correct);
    if (correct) {
      question.dataset.state = "right";
      show(question, function (el) { return el.dataset.for === "correct"; });
    } else {
      var mistake = null;
      question.querySelectorAll('.cq-explanation[data-for="mistake"]').forEach(function (el) {
        if (!mistake && near(value, Number(el.dataset.answer), Number(el.dataset.tolerance))) mistake = el;
      });
      show(question, function (el) { return mistake ? el === mistake : el.dataset.for === "wrong"; });
      if (question.dataset.state !== "right") question.dataset.state = "wrong";
      question.querySelector(".cq-reveal").hidden = false;
    }
    updateScore(root);
  }

  function reveal(question) {
    show(question, function (el) { return el.dataset.for === "revealed"; });
    if (question.dataset.state !== "right") question.dataset.state = "revealed";
  }

  function mount(root) {
    if (!root || root.dataset.ready === "true") return;
    root.querySelector(".cq-noscript").hidden = true;
    root.addEventListener("click", function (event) {
      var question = event.target.closest(".cq-question");
      if (!question || !root.contains(question)) return;
      var option = event.target.closest(".cq-option");
      if (option) choose(root, question, option);
      else if (event.target.closest(".cq-check")) checkNumber(root, question);
      else if (event.target.closest(".cq-reveal")) reveal(question);
    });
    root.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || !event.target.classList.contains("cq-input")) return;
      event.preventDefault();  // Enter in the number field checks it, as the Check button does
      checkNumber(root, event.target.closest(".cq-question"));
    });
    root.dataset.ready = "true";
  }

  return { mount: mount, parseNumber: parseNumber };
})()
