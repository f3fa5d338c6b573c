"""Per-language word knowledge bundled with the code: stop words and Snowball stemmers.

The stop-word lists double as the language profiles (see ``language``).  Dutch and English are the
languages the bot can answer in; German, French and Spanish are only recognised, so a question in
them is handed to a person instead of being matched against look-alike words.  Negations ("niet",
"not", "geen"), question words ("wanneer", "where": the rule-frequency weights tell how much they say)
and words that carry intent ("open", "terug", "lang") are deliberately *not* stop words.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import Stemmer


def _listed(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS: dict[str, frozenset[str]] = {
    "nl": _listed(
        """
        de het een en van ik je jij u uw mijn me mij is zijn ben bent was waren wie nog met voor op aan
        bij te dat die dit deze er om ook als maar kan kun kunt kunnen wil wilt willen wij we jullie jou
        jouw heb hebt heeft hebben naar uit over door zo al wel of dan moet moeten mag mogen worden
        wordt werd graag alstublieft alsjeblieft aub bedankt dank hallo hoi hey goedemorgen goedemiddag
        goedenavond beste groet groeten vriendelijke zou zouden even eens hier daar dus toch ze zij
        hij hem haar ons onze iets iemand mee gaat ga gaan doen doe precies echt nou eigenlijk vraag
        vraagje
        """
    ),
    "en": _listed(
        """
        the a an and of i you your yours my me mine is are was were be been am who whom with for on at
        by to that this these those it its can could do does did have has had would will should shall
        please thanks thank hello hi hey dear regards from about there their they them we our us get
        got any some im ive id youre dont doesnt just also so then than if or but as into here still
        very really quick question kind best
        """
    ),
    "de": _listed(
        """
        der die das und ich ist ein eine einen mein meine meinen wie wo wann was warum sie mit fur auf
        zu den dem des bitte danke hallo kann konnen habe haben hat noch schon wird werden bei nach
        oder aber auch kein keine nicht sind bin mich mir ihr ihre guten tag
        """
    ),
    "fr": _listed(
        """
        le la les et je ne pas est un une mon ma mes comment ou quand quoi que qui avec pour sur dans
        du des bonjour merci vous tu il elle nous ce cette peux puis suis ai avez sont votre vos
        """
    ),
    "es": _listed(
        """
        el la los las y yo no es un una mi mis como donde cuando que con para por en del hola gracias
        usted tengo puedo esta estoy su sus
        """
    ),
}

ANSWERABLE = ("nl", "en")  # languages with a stemmer; others are recognised only
_STEMMER_NAMES = {"nl": "dutch", "en": "english"}


def stop_words(lang: str) -> frozenset[str]:
    """The stop words of ``lang`` (empty for a language we don't know)."""
    return STOP_WORDS.get(lang, frozenset())


@lru_cache(maxsize=16)
def stemmer(lang: str) -> Callable[[str], str]:
    """A cached Snowball stemmer for ``lang``; the identity for a language without one."""
    name = _STEMMER_NAMES.get(lang)
    if name is None:
        return str
    # PyStemmer: the Snowball algorithms compiled to C (~100 times the pure-Python snowballstemmer).
    snowball = Stemmer.Stemmer(name)
    cached: Callable[[str], str] = lru_cache(maxsize=50_000)(snowball.stemWord)
    return cached
