"""A third opinion on the intent: a linear model on the message's own characters and pinyin.

The pipeline's featurizers see jieba's words, and character n-grams inside each word. Two
kinds of customer writing slip past them:

- **Pinyin and mixed script.** With the input method off, customers type "tingdian了",
  "zhuan rengong" or "dianfei多少". Spelling every Chinese character in pinyin
  (`romanize`) puts "停电" and "tingdian" on the same features.
- **Words jieba splits differently** from the training data (dialect, typos): character
  n-grams across word boundaries still match.

English word pairs ("pay up", "feel cheated") come along as word bigrams.

`bot.nlu.blend.BlendedIntentClassifier` trains this model on the intent examples' text
and averages it with DIET and its own logistic regression (weights in config.yml).
"""

from __future__ import annotations

import re

from pypinyin import lazy_pinyin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

_SPACES = re.compile(r"\s+")


def romanize(text: str) -> str:
    """Lower-cased text with every Chinese character spelt in toneless pinyin and no
    spaces, so "停 电" and "tingdian" read the same: "tingdian"."""
    return _SPACES.sub("", "".join(lazy_pinyin(text.lower())))


def character_model(c: float, max_iter: int, random_state: int | None) -> Pipeline:
    """TF-IDF on characters (1-3), pinyin letters (2-5) and words (1-2), then a logistic
    regression. An n-gram seen only once in training is dropped (`min_df=2`): it halves
    the features, and training time, at no measured cost."""

    def tfidf(**kwargs: object) -> TfidfVectorizer:
        return TfidfVectorizer(sublinear_tf=True, min_df=2, **kwargs)

    return Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        ("chars", tfidf(analyzer="char", ngram_range=(1, 3))),
                        (
                            "pinyin",
                            tfidf(analyzer="char", ngram_range=(2, 5), preprocessor=romanize),
                        ),
                        ("words", tfidf(ngram_range=(1, 2))),
                    ]
                ),
            ),
            ("lr", LogisticRegression(C=c, max_iter=max_iter, random_state=random_state)),
        ]
    )
