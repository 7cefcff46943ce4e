"""Recordings where Whisper's checks fail: which chunks temperature fallback should re-decode (issue 17).

At the default thresholds no chunk of the development set, the hard recordings or the unseen recordings fails
Whisper's checks, so which chunks go to fallback was never measured there. These recordings make them fail:
speech under loud noise, and languages base takes for others (espeak-ng's Dutch is heard as Afrikaans, its
Portuguese and Swedish as Latin). Three folders, each a recording with its ``.txt`` reference beside it, for
``cpu_devset.py --recordings``:

- ``tune-extreme``: four espeak-ng readings of text written for this set (German, Italian, Dutch, Portuguese;
  two voices taking turns, room tone at 25 dB SNR), and unseen recordings under low-pass noise at -3 to 0 dB;
- ``tune-moderate``: unseen and hard recordings under the same noise at 5-8 dB;
- ``confirm``: other recordings under other noise (rumble or hiss, 0-5 dB) and two more languages (Swedish,
  Polish), built after the rule was chosen on the tune folders.

    .venv/bin/python bench/fallback_sets.py
    .venv/bin/python bench/cpu_devset.py --recordings .cache/fixtures/fallback_v1/confirm \\
        --systems default,logprob-fallback,faster-whisper --repeats 1

Needs the unseen and hard recordings (`unseen.py`, `hard_tune.py`; built here when missing) and espeak-ng.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.signal import lfilter, resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hard_tune  # noqa: E402
import unseen  # noqa: E402
from devset import _require  # noqa: E402  (devset puts tests/ on the path)

from assets import FIXTURE_DIR, SAMPLE_RATE, read_wav, write_wav  # noqa: E402
from whisperkit_nb.audio.source import open_audio  # noqa: E402

VERSION = 1

# Sentences written for this set: an interview-like monologue per language.
TUNE_TEXTS = {
"de": [
 "Guten Morgen, ich möchte heute über meine Arbeit in der Bibliothek sprechen.",
 "Wir haben im letzten Jahr fast dreitausend neue Bücher bekommen.",
 "Die meisten Besucher kommen am Dienstag und am Donnerstag.",
 "Meine Kollegin arbeitet seit zwölf Jahren in der Abteilung für Zeitschriften.",
 "Am Anfang war das System sehr langsam und niemand wusste, wie man es benutzt.",
 "Dann haben wir eine Schulung für alle Mitarbeiter organisiert.",
 "Das Gebäude wurde neunzehnhundertachtundsechzig gebaut und später renoviert.",
 "Im Winter ist es im Lesesaal oft zu kalt.",
 "Viele Studenten lernen hier bis spät in den Abend.",
 "Ich glaube, dass Bibliotheken auch in Zukunft wichtig bleiben.",
 "Unsere Telefonnummer hat sich im Frühling geändert.",
 "Die Stadt hat uns mehr Geld für digitale Projekte versprochen.",
 "Manchmal fragen Kinder nach Büchern über Dinosaurier und Raumschiffe.",
 "Wir öffnen um neun Uhr und schließen um achtzehn Uhr.",
 "Die Ausstellung im ersten Stock zeigt alte Karten der Region.",
 "Nach der Mittagspause treffen wir uns meistens im Besprechungsraum.",
 "Es gibt Pläne, einen kleinen Garten hinter dem Haus anzulegen.",
 "Letzte Woche hat es so stark geregnet, dass der Keller nass wurde.",
 "Ein älterer Herr kommt jeden Morgen und liest die Zeitung.",
 "Wenn ich an meine erste Woche denke, muss ich immer noch lachen.",
 "Die Leute sind freundlich, aber die Arbeit ist manchmal anstrengend.",
 "Wir sammeln auch Fotos und Briefe von Familien aus dem Dorf.",
 "Im Sommer veranstalten wir Lesungen im Hof.",
 "Ich hoffe, dass wir bald mehr Personal bekommen.",
 "Vielen Dank, dass Sie sich die Zeit für dieses Gespräch genommen haben.",
],
"it": [
 "Buongiorno, oggi vorrei raccontare come è cambiato il nostro quartiere.",
 "Quando ero bambino, c'era un mercato ogni sabato mattina.",
 "Mio nonno vendeva frutta e verdura vicino alla chiesa.",
 "Adesso ci sono più macchine e meno negozi piccoli.",
 "Molte famiglie si sono trasferite in periferia negli anni novanta.",
 "La scuola elementare ha chiuso nel duemila e cinque.",
 "Però il parco è rimasto, ed è ancora pieno di gente la domenica.",
 "Ogni estate organizziamo una festa con musica e cibo.",
 "Il comune ha promesso di riparare la strada principale.",
 "Ci vogliono circa venti minuti per arrivare in centro con l'autobus.",
 "Mia sorella lavora in una farmacia vicino alla stazione.",
 "D'inverno le giornate sono corte e fa molto freddo.",
 "Abbiamo chiesto più lampioni perché la sera è troppo buio.",
 "Gli anziani si incontrano al bar per giocare a carte.",
 "Il prezzo degli affitti è aumentato quasi del trenta per cento.",
 "Alcuni giovani hanno aperto un laboratorio di biciclette.",
 "Io credo che il quartiere abbia ancora un'anima.",
 "La biblioteca comunale apre alle nove e chiude alle sette.",
 "Durante la pandemia i vicini si aiutavano a fare la spesa.",
 "Ricordo ancora il profumo del pane della vecchia panetteria.",
 "Oggi la panetteria è diventata un negozio di telefoni.",
 "Spero che i miei figli possano crescere qui come ho fatto io.",
 "Il fiume è più pulito di una volta, e ci sono di nuovo i pesci.",
 "Ogni mattina porto il cane a fare una lunga passeggiata.",
 "Grazie per avermi ascoltato, è stato un piacere parlare con lei.",
],
"pt": [
 "Bom dia, hoje eu quero falar sobre a minha experiência como professora.",
 "Comecei a trabalhar numa escola pequena no interior do estado.",
 "Naquela época eu tinha apenas vinte e dois anos.",
 "Os alunos vinham de fazendas distantes e alguns caminhavam uma hora.",
 "A sala de aula tinha uma janela grande e um quadro antigo.",
 "Eu ensinava português, história e um pouco de matemática.",
 "No primeiro ano tivemos trinta e cinco alunos na mesma turma.",
 "Muitos pais não sabiam ler, mas queriam que os filhos estudassem.",
 "Nós organizávamos uma feira de livros todo mês de outubro.",
 "A diretora era muito rigorosa, mas também muito justa.",
 "Depois de oito anos, mudei para uma escola na capital.",
 "Lá tudo era diferente, com mais recursos e mais barulho.",
 "Os computadores chegaram em dois mil e três.",
 "No começo ninguém sabia usar, nem os professores.",
 "Hoje os alunos aprendem muito rápido com a internet.",
 "Mas eu acho que a conversa em sala continua sendo essencial.",
 "Nas férias eu gosto de viajar para o litoral com a minha família.",
 "Meu marido cozinha muito bem, principalmente peixe.",
 "Eu me aposentei no ano passado, depois de trinta anos de trabalho.",
 "Ainda encontro ex-alunos na rua, e isso me deixa muito feliz.",
 "Um deles virou médico e outro é engenheiro.",
 "A educação mudou a vida de muitas famílias da nossa cidade.",
 "Eu espero que o governo invista mais nas escolas públicas.",
 "Sempre digo que ensinar é também aprender todos os dias.",
 "Muito obrigada pela entrevista e pelo seu interesse.",
],
"nl": [
 "Goedemorgen, ik wil vandaag iets vertellen over mijn werk op de boerderij.",
 "Wij hebben ongeveer honderdvijftig koeien en een paar paarden.",
 "Elke ochtend sta ik om half zes op om te melken.",
 "Mijn vader heeft de boerderij in negentienzeventig gekocht.",
 "Toen was alles nog veel kleiner en deden we veel met de hand.",
 "Nu hebben we machines die de meeste taken overnemen.",
 "In de zomer helpen mijn kinderen met het hooi.",
 "Het weer is voor ons altijd het belangrijkste onderwerp.",
 "Vorig jaar was het zo droog dat het gras bruin werd.",
 "De melkprijs gaat op en neer, en dat maakt het moeilijk om te plannen.",
 "We verkopen ook kaas aan mensen uit het dorp.",
 "Op zaterdag staan we met een kraam op de markt.",
 "Mijn vrouw werkt drie dagen per week in het ziekenhuis.",
 "De dichtstbijzijnde stad ligt op twintig kilometer afstand.",
 "Soms komen er schoolklassen kijken hoe een boerderij werkt.",
 "De kinderen vinden de kalfjes altijd het leukst.",
 "We proberen minder kunstmest te gebruiken dan vroeger.",
 "Er zijn nieuwe regels voor stikstof, en daar maken we ons zorgen over.",
 "Toch denk ik dat er een toekomst is voor kleine boeren.",
 "Mijn zoon wil de boerderij later misschien overnemen.",
 "Hij studeert nu aan een landbouwschool in het oosten.",
 "In de winter is er meer tijd voor reparaties en papierwerk.",
 "Ik lees graag 's avonds, vooral boeken over geschiedenis.",
 "Het leven op het platteland is rustig, maar nooit saai.",
 "Dank u wel voor dit gesprek, het was erg gezellig.",
],
}
CONFIRM_TEXTS = {
"sv": [
 "Hej, jag heter Anna och jag har arbetat som sjuksköterska i femton år.",
 "Jag växte upp i en liten by i norra Sverige.",
 "På vintern var det mörkt nästan hela dagen.",
 "Min pappa var skogsarbetare och min mamma var lärare.",
 "Vi hade två hundar och en katt som hette Sixten.",
 "När jag var arton flyttade jag till Uppsala för att studera.",
 "Det var svårt i början, men jag fick många nya vänner.",
 "Sjukhuset där jag arbetar har ungefär tvåtusen anställda.",
 "Vi jobbar ofta natt, och det är tungt för kroppen.",
 "Ändå tycker jag om mitt arbete, för jag får hjälpa människor.",
 "Under pandemin var vi tvungna att arbeta extra varje vecka.",
 "Jag minns att vi var mycket trötta men också stolta.",
 "På fritiden tycker jag om att åka skidor och läsa deckare.",
 "Min man lagar mat nästan varje kväll.",
 "Vi har två barn, en pojke på nio år och en flicka på sex.",
 "På sommaren hyr vi en stuga vid en sjö i Dalarna.",
 "Där fiskar vi, badar och plockar blåbär i skogen.",
 "Jag tror att vården behöver fler händer och bättre löner.",
 "Politikerna pratar mycket, men det händer ganska lite.",
 "Tack för att du ville lyssna på min berättelse.",
],
"pl": [
 "Dzień dobry, nazywam się Piotr i mieszkam w Krakowie od dwudziestu lat.",
 "Urodziłem się w małej wsi niedaleko Lublina.",
 "Moi rodzice mieli gospodarstwo i hodowali krowy.",
 "Jako dziecko pomagałem przy żniwach każdego lata.",
 "Po szkole średniej wyjechałem na studia do miasta.",
 "Studiowałem historię, bo zawsze lubiłem stare książki.",
 "Teraz pracuję jako przewodnik i oprowadzam turystów po starym mieście.",
 "Najwięcej gości przyjeżdża w lipcu i w sierpniu.",
 "Często pytają o smoka wawelskiego i o hejnał z wieży.",
 "W zimie jest spokojniej i mam więcej czasu dla rodziny.",
 "Moja żona jest lekarką i pracuje w szpitalu dziecięcym.",
 "Mamy syna, który właśnie skończył osiem lat.",
 "W weekendy jeździmy na rowerach wzdłuż Wisły.",
 "Ceny mieszkań bardzo wzrosły w ostatnich latach.",
 "Wielu młodych ludzi nie stać na własne mieszkanie.",
 "Mimo to uważam, że Kraków jest wspaniałym miejscem do życia.",
 "Lubię chodzić do małych kawiarni na Kazimierzu.",
 "Czasem spotykam tam dawnych przyjaciół ze studiów.",
 "Mam nadzieję, że miasto zachowa swój charakter.",
 "Dziękuję bardzo za rozmowę i do widzenia.",
],
}


def _write(path: Path, samples: np.ndarray, text: str, lang: str | None = None) -> None:
    """``samples`` (int16 scale) as ``path``.wav, clipped, with its reference (and language) beside it."""
    write_wav(path.with_suffix(".wav"), np.clip(samples, -32768, 32767).astype(np.int16))
    path.with_suffix(".txt").write_text(text)
    if lang:
        path.with_suffix(".lang").write_text(lang)


def _espeak(text: str, voice: str, rate_wpm: int) -> np.ndarray:
    """One sentence read by espeak-ng at 16 kHz, at -20 dB RMS of full scale (int16 scale)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "r.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-w", str(raw), text], check=True,
                       capture_output=True)
        samples, rate = read_wav(raw)
    audio = resample_poly(samples.astype(np.float32), SAMPLE_RATE, rate).astype(np.float32)
    return audio * (10 ** (-20 / 20) * 32768 / np.sqrt(np.mean(audio**2)))


def _reading(sentences: list[str], voice, rates: tuple[int, int], pauses: tuple[float, float],
             rng: np.random.Generator) -> np.ndarray:
    """The sentences one after another, ``voice(i)`` reading the i-th, at a random rate and pause each."""
    pieces = [np.zeros(SAMPLE_RATE // 2, np.float32)]
    for i, sentence in enumerate(sentences):
        pieces += [_espeak(sentence, voice(i), int(rng.integers(*rates))),
                   np.zeros(int(rng.uniform(*pauses) * SAMPLE_RATE), np.float32)]
    return np.concatenate(pieces)


def _noise_at(audio: np.ndarray, snr_db: float, shape: tuple[list, list], rng: np.random.Generator) -> np.ndarray:
    """Filtered white noise (``shape``: the filter's b and a) at ``snr_db`` below the speech's level."""
    speech = audio[np.abs(audio) > 0.05 * np.abs(audio).max()]
    level = np.sqrt(np.mean(speech**2)) / 10 ** (snr_db / 20)
    noise = lfilter(*shape, rng.standard_normal(len(audio)).astype(np.float32)).astype(np.float32)
    return noise * (level / np.sqrt(np.mean(noise**2)))


LOW_PASS = ([1], [1, -0.9])  # noise whose energy lies low, as a room's or a crowd's
RUMBLE = ([1], [1, -0.97])
HISS = ([1, 0.5], [1])


def _languages(folder: Path) -> None:
    rng = np.random.default_rng(7)
    for lang, sentences in TUNE_TEXTS.items():
        clean = _reading(sentences, lambda i, lang=lang: lang + ("+f3" if i % 3 == 1 else ""), (145, 185),
                         (0.3, 1.6), rng)
        level = np.sqrt(np.mean(clean[clean != 0] ** 2)) / 10 ** (25 / 20)
        tone = lfilter([1], [1, -0.95], rng.standard_normal(len(clean)).astype(np.float32)).astype(np.float32)
        _write(folder / f"espeak-{lang}", clean + tone * (level / np.sqrt(np.mean(tone**2))),
               " ".join(sentences) + "\n")


def _noisy_copies(folder: Path, jobs: list[tuple[str, Path, float]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name, source, snr_db in jobs:
        audio, rate = read_wav(source)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{source}: {rate} Hz, expected {SAMPLE_RATE}")
        audio = audio.astype(np.float32)
        _write(folder / name, audio + _noise_at(audio, snr_db, LOW_PASS, rng), source.with_suffix(".txt").read_text())
        if source.with_suffix(".lang").is_file():
            shutil.copy(source.with_suffix(".lang"), folder / f"{name}.lang")


def _confirm(folder: Path, unseen_dir: Path, hard_dir: Path) -> None:
    rng = np.random.default_rng(23)
    jobs = [("kal16-numbers-3db", unseen_dir / "flite-kal16-fast-numbers-3m.wav", 3, HISS),
            ("slt-numbers-0db", hard_dir / "flite-slt-fast-numbers-3m.wav", 0, RUMBLE),
            ("mixed-accents-5db", unseen_dir / "espeak-mixed-accents-18m.wav", 5, HISS),
            ("cards-3db", unseen_dir / "real-cards-0.3m.wav", 3, RUMBLE),
            ("scot-quiet-3db", unseen_dir / "espeak-scot-quiet-6m.m4a", 3, HISS),
            ("awb-phone-5db", unseen_dir / "flite-awb-phone-6m.mp3", 5, RUMBLE),
            ("rms-phone-2db", hard_dir / "flite-rms-phone-6m.mp3", 2, HISS)]
    for name, source, snr_db, shape in jobs:
        audio = np.concatenate(list(open_audio(str(source), "fail").blocks())).astype(np.float32)
        audio = audio * (32768 if np.abs(audio).max() <= 1.0 else 1)
        _write(folder / name, audio + _noise_at(audio, snr_db, shape, rng), source.with_suffix(".txt").read_text())
    for lang, sentences in CONFIRM_TEXTS.items():
        clean = _reading(sentences, lambda i, lang=lang: lang + ("+m3" if i % 2 else ""), (150, 180), (0.3, 1.5),
                         rng)
        _write(folder / f"espeak-{lang}", clean + _noise_at(clean, 20, RUMBLE, rng), " ".join(sentences))


def _made(folder: Path, fill) -> None:
    """``fill(part)`` into a fresh ``folder.part``, renamed to ``folder`` when done; nothing if ``folder`` is there,
    so an interrupted build never leaves a folder that looks whole."""
    if folder.is_dir():
        return
    part = folder.with_name(folder.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    fill(part)
    part.rename(folder)


def build(root: Path) -> Path:
    """The three folders under ``root`` (kept where they exist already)."""
    _require("espeak-ng")
    unseen_dir = unseen.build(FIXTURE_DIR / f"unseen_v{unseen.VERSION}")
    hard_dir = hard_tune.build(FIXTURE_DIR / f"hard_tune_v{hard_tune.VERSION}")

    def extreme(part: Path) -> None:
        _noisy_copies(part, [("slt-0db", unseen_dir / "flite-interview-pauses-6m.wav", 0),
                             ("en12-m3db", unseen_dir / "asterisk-en-12db-6m.wav", -3),
                             ("call-0db", unseen_dir / "real-call-0.5m.wav", 0),
                             ("es-0db", unseen_dir / "asterisk-es-18db-6m.wav", 0)], seed=11)
        _languages(part)

    def moderate(part: Path) -> None:
        _noisy_copies(part, [("interview-5db", unseen_dir / "flite-interview-pauses-6m.wav", 5),
                             ("en12-5db", unseen_dir / "asterisk-en-12db-6m.wav", 5),
                             ("call-5db", unseen_dir / "real-call-0.5m.wav", 5),
                             ("es-5db", unseen_dir / "asterisk-es-18db-6m.wav", 5),
                             ("accents-8db", hard_dir / "espeak-accents-6m.wav", 8),
                             ("babble-8db", unseen_dir / "espeak-f3-babble-6m.wav", 8)], seed=11)

    _made(root / "tune-extreme", extreme)
    _made(root / "tune-moderate", moderate)
    _made(root / "confirm", lambda part: _confirm(part, unseen_dir, hard_dir))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(FIXTURE_DIR / f"fallback_v{VERSION}"))
    args = parser.parse_args()
    root = build(Path(args.folder))
    for part in ("tune-extreme", "tune-moderate", "confirm"):
        print(root / part)


if __name__ == "__main__":
    main()
