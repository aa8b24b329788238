"""book.kaggle: Kaggle's log loss against the formula, the Otto CSV loader and the submission scorer, on good and
malformed fixture files written into tmp_path."""

import gzip
import math
import re
import zipfile

import pytest
import torch

from book.kaggle import (CLASSES, EPS, FEATURES, OttoFormatError, load_otto_csv, log_loss, read_submission,
                         row_log_losses, score_submission, write_otto_csv, write_submission)


def direct_log_loss(p, y, eps=1e-15):
    """The metric as Kaggle states it, one row at a time in plain Python floats: clip, then renormalise."""
    total = 0.0
    for row, label in zip(p, y):
        clipped = [max(min(v, 1 - eps), eps) for v in row]
        total -= math.log(clipped[label] / sum(clipped))
    return total / len(y)


def random_probabilities(n, q=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = -torch.log(torch.rand(n, q, generator=g, dtype=torch.float64))  # Dirichlet(1) rows, reproducibly
    return p / p.sum(1, keepdim=True), torch.randint(0, q, (n,), generator=g)


# --- the metric ------------------------------------------------------------------------------------------------

def test_log_loss_matches_the_direct_formula_and_cross_entropy():
    p, y = random_probabilities(500)
    assert log_loss(p, y) == pytest.approx(direct_log_loss(p.tolist(), y.tolist()), rel=1e-12)
    assert log_loss(p, y) == pytest.approx(torch.nn.functional.nll_loss(p.log(), y).item(), rel=1e-12)


def test_clipping_and_renormalising_as_kaggle_does():
    p = torch.tensor([[0.0, 1.0, 0.0], [0.2, 0.2, 0.2], [0.6, 0.2, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 2])
    expected = direct_log_loss(p.tolist(), y.tolist())
    assert log_loss(p, y) == pytest.approx(expected, rel=1e-12)
    # a certain mistake costs -log(1e-15) (about 34.5), not infinity; an all-zero row becomes uniform
    assert log_loss(p[:1], y[:1]) == pytest.approx(-math.log(EPS / (1 - EPS + 2 * EPS)), rel=1e-9)
    assert log_loss(p[3:], y[3:]) == pytest.approx(math.log(3), rel=1e-9)
    # rows need not sum to one: (0.2, 0.2, 0.2) scores like (1/3, 1/3, 1/3), (0.6, 0.2, 0) like (3/4, 1/4, 0)
    assert log_loss(p[1:2], y[1:2]) == pytest.approx(math.log(3), rel=1e-9)
    assert log_loss(p[2:3], y[2:3]) == pytest.approx(-math.log(0.75), rel=1e-9)


def test_perfect_and_confidently_wrong_predictions():
    y = torch.tensor([0, 4, 8])
    one_hot = torch.nn.functional.one_hot(y, 9).double()
    assert 0 <= log_loss(one_hot, y) < 1e-13
    assert log_loss(one_hot, (y + 1) % 9) == pytest.approx(-math.log(EPS), rel=1e-3)


def test_log_loss_accepts_lists_and_float32():
    p, y = random_probabilities(20)
    assert log_loss(p.float(), y) == pytest.approx(log_loss(p, y), rel=1e-6)
    assert log_loss(p.tolist(), y.tolist()) == pytest.approx(log_loss(p, y), rel=1e-12)


def test_row_log_losses_are_the_terms_the_log_loss_averages():
    p = torch.tensor([[0.0, 1.0, 0.0], [0.2, 0.2, 0.2], [0.6, 0.2, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 0])
    rows = row_log_losses(p, y)
    assert rows.shape == (3,) and rows.dtype == torch.float64
    expected = [direct_log_loss([row], [label]) for row, label in zip(p.tolist(), y.tolist())]
    assert rows.tolist() == pytest.approx(expected, rel=1e-12)
    q, labels = random_probabilities(300, seed=3)
    assert rows.mean().item() == log_loss(p, y)
    assert row_log_losses(q.float(), labels).mean().item() == pytest.approx(log_loss(q, labels), rel=1e-6)
    # the standard error of the mean of the terms: Dirichlet(1) rows on 9 classes have -log p_y spread ~ 1.2
    se = row_log_losses(q, labels).std().item() / math.sqrt(300)
    assert 0.03 < se < 0.12
    with pytest.raises(ValueError, match="one label per row"):
        row_log_losses(q, labels[:5])


@pytest.mark.parametrize("probabilities, labels, message", [
    (torch.randn(4, 9), torch.zeros(4, dtype=torch.long), "softmax"),
    (torch.full((4, 9), float("nan")), torch.zeros(4, dtype=torch.long), "NaN"),
    (torch.rand(4, 9), torch.zeros(3, dtype=torch.long), "one label per row"),
    (torch.rand(4, 9), torch.tensor([0, 1, 2, 9]), "0..8"),
    (torch.rand(4, 9), torch.zeros(4), "integer"),
    (torch.rand(9), torch.zeros(9, dtype=torch.long), r"shape \(N, q\)"),
])
def test_log_loss_rejects_bad_input_with_a_clear_message(probabilities, labels, message):
    with pytest.raises(ValueError, match=message):
        log_loss(probabilities, labels)


# --- load_otto_csv ------------------------------------------------------------------------------------------------

def csv_text(rows, header=None):
    header = header or ["id", *FEATURES, "target"]
    return "\n".join([",".join(header)] + [",".join(str(v) for v in row) for row in rows]) + "\n"


def good_rows():
    """Three rows as Kaggle writes them: id, 93 counts, target."""
    return [[1, *[j % 3 for j in range(93)], "Class_1"],
            [2, *[0] * 92, 17, "Class_9"],
            [7, *[(j * 7) % 11 for j in range(93)], "Class_4"]]


def test_load_otto_csv_reads_kaggles_layout(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(csv_text(good_rows()))
    table = load_otto_csv(path)
    assert table.ids.tolist() == [1, 2, 7]
    assert table.features.dtype == table.labels.dtype == table.ids.dtype == torch.int64
    assert table.features.shape == (3, 93)
    assert table.features[0].tolist() == [j % 3 for j in range(93)]
    assert table.features[1, 92].item() == 17 and table.features[1, :92].sum().item() == 0
    assert table.labels.tolist() == [0, 8, 3]


def test_columns_are_found_by_name_in_any_order(tmp_path):
    header = ["target", *reversed(FEATURES), "id"]
    rows = [[r[-1], *reversed(r[1:-1]), r[0]] for r in good_rows()]
    path = tmp_path / "shuffled.csv"
    path.write_text(csv_text(rows, header))
    reference = tmp_path / "train.csv"
    reference.write_text(csv_text(good_rows()))
    a, b = load_otto_csv(path), load_otto_csv(reference)
    assert torch.equal(a.features, b.features) and torch.equal(a.labels, b.labels) and torch.equal(a.ids, b.ids)


def test_test_csv_without_target_and_the_write_read_round_trip(tmp_path):
    g = torch.Generator().manual_seed(1)
    counts = torch.poisson(torch.full((50, 93), 0.7), generator=g).long()
    labels = torch.randint(0, 9, (50,), generator=g)
    ids = torch.arange(101, 151)
    table = load_otto_csv(write_otto_csv(tmp_path / "train.csv", ids, counts, labels))
    assert torch.equal(table.ids, ids) and torch.equal(table.features, counts) and torch.equal(table.labels, labels)
    unlabelled = write_otto_csv(tmp_path / "test.csv", ids, counts)
    table = load_otto_csv(unlabelled, require_target=False)
    assert table.labels is None and torch.equal(table.features, counts)
    with pytest.raises(OttoFormatError, match="missing columns target"):
        load_otto_csv(unlabelled)


def replace_field(rows, row, column, value):
    rows = [list(r) for r in rows]
    rows[row][column] = value
    return rows


@pytest.mark.parametrize("make_text, message", [
    (lambda: csv_text(good_rows(), ["id", *FEATURES[:16], "feat_17x", *FEATURES[17:], "target"]),
     r"line 1: missing columns feat_17 and unknown columns feat_17x"),
    (lambda: csv_text([r[:-1] for r in good_rows()], ["id", *FEATURES]), "missing columns target"),
    (lambda: csv_text(replace_field(good_rows(), 1, 5, "2.5")), r"line 3, column 'feat_5'.*integer count.*'2\.5'"),
    (lambda: csv_text(replace_field(good_rows(), 2, 93, "")), r"line 4, column 'feat_93'.*integer count.*''"),
    (lambda: csv_text(replace_field(good_rows(), 0, 1, "-1")), r"line 2, column 'feat_1'.*got -1"),
    (lambda: csv_text(replace_field(good_rows(), 0, 1, "abc")), r"line 2, column 'feat_1'.*'abc'"),
    (lambda: csv_text(replace_field(good_rows(), 2, 94, "Class_10")), r"line 4, column 'target'.*'Class_10'"),
    (lambda: csv_text(replace_field(good_rows(), 1, 0, "x1")), r"line 3, column 'id'"),
    (lambda: csv_text(replace_field(good_rows(), 2, 0, 1)), r"line 4, column 'id': id 1 already appeared on line 2"),
    (lambda: csv_text(good_rows()) + "8,1,2,3\n", r"line 5: 4 fields, but the header has 95 columns"),
    (lambda: csv_text([]), "no data rows"),
    (lambda: "", "empty"),
    (lambda: csv_text([], ["id", *CLASSES]), "read_submission"),
])
def test_malformed_csv_files_raise_errors_naming_line_and_column(tmp_path, make_text, message):
    path = tmp_path / "bad.csv"
    path.write_text(make_text())
    with pytest.raises(OttoFormatError, match=message):
        load_otto_csv(path)


def test_missing_file_says_where_the_data_comes_from(tmp_path):
    with pytest.raises(FileNotFoundError, match="Kaggle"):
        load_otto_csv(tmp_path / "nowhere.csv")


# --- submissions ---------------------------------------------------------------------------------------------------

def test_submission_round_trip_and_score(tmp_path):
    p, y = random_probabilities(300, seed=3)
    ids = torch.arange(1, 301)
    path = write_submission(tmp_path / "submission.csv", ids, p)
    assert path.read_text().splitlines()[0] == "id," + ",".join(f"Class_{i}" for i in range(1, 10))
    got_ids, got_p = read_submission(path)
    assert torch.equal(got_ids, ids)
    assert torch.allclose(got_p, p, rtol=1e-8, atol=0)
    assert score_submission(path, ids, y) == pytest.approx(log_loss(p, y), abs=1e-7)


def test_score_matches_rows_by_id_and_columns_by_name(tmp_path):
    p, y = random_probabilities(40, seed=4)
    ids = torch.arange(1, 41)
    order = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    columns = list(reversed(CLASSES))
    lines = [",".join(["id", *columns])]
    for r in order.tolist():
        lines.append(",".join([str(ids[r].item())] + [repr(p[r, CLASSES.index(c)].item()) for c in columns]))
    path = tmp_path / "shuffled.csv"
    path.write_text("\n".join(lines) + "\n")
    assert score_submission(path, ids, y) == pytest.approx(log_loss(p, y), rel=1e-12)


def submission_text(rows, header=("id", *CLASSES)):
    return "\n".join([",".join(header)] + [",".join(str(v) for v in r) for r in rows]) + "\n"


GOOD = [[1, *[1 / 9] * 9], [2, 0.5, 0.5, *[0] * 7], [3, *[0] * 8, 1]]


@pytest.mark.parametrize("text, message", [
    (submission_text(GOOD, ("id", *CLASSES[:-1])), "line 1: missing columns Class_9"),
    (submission_text([r + [0] for r in GOOD], ("id", *CLASSES, "target")), "unknown columns target"),
    (submission_text(GOOD[:2] + [[3, *[0] * 8, "high"]]), r"line 4, column 'Class_9'.*'high'"),
    (submission_text(GOOD[:2] + [[3, -0.1, *[0] * 7, 1]]), r"line 4, column 'Class_1'.*'-0.1'"),
    (submission_text(GOOD[:2] + [[3, "nan", *[0] * 7, 1]]), r"line 4, column 'Class_1'.*'nan'"),
    (submission_text(GOOD[:2] + [[2, *[0] * 8, 1]]), r"line 4, column 'id': id 2 already appeared on line 3"),
    (submission_text(GOOD[:2] + [[3, 1, 0]]), "line 4: 3 fields, but the header has 10 columns"),
    (submission_text(GOOD[:2]), r"1 ids missing \(e.g. \[3\]\)"),
    (submission_text(GOOD + [[4, *[1] * 9]]), r"1 ids that are not in the test set \(e.g. \[4\]\)"),
    (submission_text([]), "no rows of probabilities"),
])
def test_malformed_submissions_raise_clear_errors(tmp_path, text, message):
    path = tmp_path / "submission.csv"
    path.write_text(text)
    with pytest.raises(OttoFormatError, match=message):
        score_submission(path, [1, 2, 3], [0, 1, 8])


def test_a_good_fixture_scores_as_the_formula_says(tmp_path):
    path = tmp_path / "submission.csv"
    path.write_text(submission_text(GOOD))
    expected = direct_log_loss([r[1:] for r in GOOD], [0, 1, 8])
    assert score_submission(path, [1, 2, 3], [0, 1, 8]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("ids, probabilities, message", [
    ([1, 2], torch.full((3, 9), 1 / 9), r"shape \(2, 9\)"),
    ([1, 2, 3], torch.full((3, 8), 1 / 8), r"shape \(3, 9\)"),
    ([1, 2, 3], torch.randn(3, 9), "softmax"),
    ([1, 1, 3], torch.full((3, 9), 1 / 9), "unique"),
])
def test_write_submission_rejects_bad_input(tmp_path, ids, probabilities, message):
    with pytest.raises(ValueError, match=message):
        write_submission(tmp_path / "s.csv", ids, probabilities)


# --- no silent wrong answer: encodings, compressed downloads, numbers, line numbers -----------------

def test_latin_1_and_utf_16_files_say_which_file_and_what_encoding_was_expected(tmp_path):
    latin = tmp_path / "latin.csv"
    text = csv_text(good_rows()).replace("Class_9", "Clàss_9")
    latin.write_bytes(text.encode("latin-1"))
    with pytest.raises(OttoFormatError, match=r"latin\.csv, line 3: the byte b'\\xe0' is not UTF-8; expected "
                                              r"UTF-8.*Latin-1.*iconv"):
        load_otto_csv(latin)
    spreadsheet = tmp_path / "unicode.csv"
    spreadsheet.write_text(csv_text(good_rows()), encoding="utf-16")  # with a byte-order mark
    with pytest.raises(OttoFormatError, match=r"unicode\.csv: the file is UTF-16 text.*expected UTF-8"):
        load_otto_csv(spreadsheet)
    no_mark = tmp_path / "no_mark.csv"
    no_mark.write_bytes(csv_text(good_rows()).encode("utf-16-le"))
    with pytest.raises(OttoFormatError, match="NUL bytes: it is UTF-16 text without a byte-order mark"):
        load_otto_csv(no_mark)
    with_bom = tmp_path / "bom.csv"
    with_bom.write_bytes(csv_text(good_rows()).encode("utf-8-sig"))  # Excel's 'CSV UTF-8': read as it is
    assert load_otto_csv(with_bom).ids.tolist() == [1, 2, 7]


def test_kaggles_zip_and_gzip_downloads_are_read_directly(tmp_path):
    text = csv_text(good_rows())
    reference = load_otto_csv(write_text(tmp_path / "train.csv", text))
    zipped = tmp_path / "train.csv.zip"
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train.csv", text)
        archive.writestr("__MACOSX/._train.csv", b"\x00\x05\x16\x07")  # the resource fork a Mac adds
    gzipped = tmp_path / "train.csv.gz"
    gzipped.write_bytes(gzip.compress(text.encode()))
    for path in (zipped, gzipped):
        table = load_otto_csv(path)
        assert torch.equal(table.features, reference.features) and torch.equal(table.labels, reference.labels)
    p, y = random_probabilities(20, seed=5)
    plain = write_submission(tmp_path / "submission.csv", torch.arange(1, 21), p)
    with zipfile.ZipFile(tmp_path / "submission.zip", "w") as archive:
        archive.write(plain, "submission.csv")
    assert score_submission(tmp_path / "submission.zip", torch.arange(1, 21), y) == score_submission(
        plain, torch.arange(1, 21), y)
    with zipfile.ZipFile(tmp_path / "both.zip", "w") as archive:
        archive.writestr("train.csv", text)
        archive.writestr("test.csv", text)
    with pytest.raises(OttoFormatError, match=r"both\.zip: a zip archive of 2 files \(train\.csv, test\.csv\)"):
        load_otto_csv(tmp_path / "both.zip")
    (tmp_path / "cut.csv.gz").write_bytes(gzipped.read_bytes()[:40])
    with pytest.raises(OttoFormatError, match=r"cut\.csv\.gz: a gzip file that cannot be decompressed"):
        load_otto_csv(tmp_path / "cut.csv.gz")
    zipped_bad = tmp_path / "inner.zip"
    with zipfile.ZipFile(zipped_bad, "w") as archive:
        archive.writestr("train.csv", text.replace(",17,", ",1_7,"))
    with pytest.raises(OttoFormatError, match=r"inner\.zip \(train\.csv\), line 3, column 'feat_93'"):
        load_otto_csv(zipped_bad)


def write_text(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("count", ["1_000", "١٢", "１２", "+5", "1e3", "0x1F", "1 2", "\t7"])
def test_counts_are_ascii_digits_only(tmp_path, count):
    # int() takes '1_000', Arabic-Indic and full-width digits, '+5' and tabs: all were read as counts before
    path = write_text(tmp_path / "train.csv", csv_text(replace_field(good_rows(), 1, 4, count)))
    with pytest.raises(OttoFormatError, match=rf"line 3, column 'feat_4': expected .* digits 0-9 only, got "
                                              rf"{re.escape(repr(count))}"):
        load_otto_csv(path)


@pytest.mark.parametrize("value", ["1_0", "٠.٥", "0x1p-3", "infinity"])
def test_probabilities_are_ascii_numbers_only(tmp_path, value):
    path = write_text(tmp_path / "s.csv", submission_text(GOOD[:2] + [[3, value, *[0] * 8]]))
    with pytest.raises(OttoFormatError, match=rf"line 4, column 'Class_1'.*got {re.escape(repr(value))}"):
        read_submission(path)


def test_numbers_beyond_int64_are_errors_with_line_and_column(tmp_path):
    big = str(2 ** 63)
    path = write_text(tmp_path / "train.csv", csv_text(replace_field(good_rows(), 2, 7, big)))
    with pytest.raises(OttoFormatError, match=rf"line 4, column 'feat_7': .*got {big}, which is more than an "
                                              r"int64 holds"):
        load_otto_csv(path)
    path = write_text(tmp_path / "ids.csv", csv_text(replace_field(good_rows(), 0, 0, big)))
    with pytest.raises(OttoFormatError, match=r"line 2, column 'id': .*more than an int64"):
        load_otto_csv(path)
    largest = str(2 ** 63 - 1)
    path = write_text(tmp_path / "ok.csv", csv_text(replace_field(good_rows(), 2, 7, largest)))
    assert load_otto_csv(path).features[2, 6].item() == 2 ** 63 - 1


def test_line_numbers_are_file_lines_after_a_quoted_field_spanning_lines(tmp_path):
    def spanning(rows):  # each target quoted over two lines, as a spreadsheet writes a cell with a line break
        return csv_text([[*row[:-1], f'"{row[-1]}\n"'] for row in rows])

    assert load_otto_csv(write_text(tmp_path / "ok.csv", spanning(good_rows()))).labels.tolist() == [0, 8, 3]
    # the records start on the file's lines 2, 4 and 6 (csv record numbers would say 2, 3, 4)
    path = write_text(tmp_path / "bad.csv", spanning(replace_field(good_rows(), 2, 5, "x")))
    with pytest.raises(OttoFormatError, match=r"line 6, column 'feat_5'"):
        load_otto_csv(path)
    path = write_text(tmp_path / "repeat.csv", spanning(replace_field(good_rows(), 2, 0, 1)))
    with pytest.raises(OttoFormatError, match=r"line 6, column 'id': id 1 already appeared on line 2"):
        load_otto_csv(path)


def test_writers_refuse_what_the_readers_would_refuse(tmp_path):
    ids, counts = torch.arange(1, 4), torch.ones(3, 93, dtype=torch.long)
    with pytest.raises(ValueError, match="counts .* >= 0, got -1"):
        write_otto_csv(tmp_path / "a.csv", ids, counts - 2)
    with pytest.raises(ValueError, match=r"counts .*integers of shape \(3, 93\), got torch\.bool"):
        write_otto_csv(tmp_path / "a.csv", ids, counts.bool())
    with pytest.raises(ValueError, match=r"class indices .*integers.*got torch\.float32"):
        write_otto_csv(tmp_path / "a.csv", ids, counts, torch.tensor([0.0, 1.0, 2.5]))
    with pytest.raises(ValueError, match="class indices in 0..8, got 9"):
        write_otto_csv(tmp_path / "a.csv", ids, counts, torch.tensor([0, 1, 9]))
    with pytest.raises(ValueError, match="ids must be >= 0"):
        write_otto_csv(tmp_path / "a.csv", ids - 2, counts)
    with pytest.raises(ValueError, match="no rows to write"):
        write_otto_csv(tmp_path / "a.csv", torch.zeros(0, dtype=torch.long), torch.zeros(0, 93, dtype=torch.long))
    assert not (tmp_path / "a.csv").exists()
