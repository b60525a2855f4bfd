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
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from pypinyin import lazy_pinyin
from scipy.special import softmax
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


class CharacterScorer:
    """`character_model(...).predict_proba`, for a fitted model, without scikit-learn's
    per-call checks and sparse matrices: 0.3 ms a message instead of 2.9. Every message
    is parsed once per turn, so this is on every turn's path.

    Each TF-IDF part is computed as scikit-learn does (counts, 1 + log, times idf, unit
    length per part), and the multinomial logistic regression's softmax over the weighted
    sum. tests/nlu/test_blend.py checks it against the pipeline."""

    def __init__(self, model: Pipeline) -> None:
        union, lr = model.named_steps["features"], model.named_steps["lr"]
        if lr.coef_.shape[0] == 1:  # two classes: a sigmoid, not a softmax
            raise ValueError("CharacterScorer needs three or more intents")
        self.classes_ = lr.classes_
        self._parts: list[tuple[Any, dict[str, int], np.ndarray[Any, Any], int]] = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            vocabulary = vectorizer.vocabulary_
            self._parts.append((vectorizer.build_analyzer(), vocabulary, vectorizer.idf_, offset))
            offset += len(vocabulary)
        self._weights = np.ascontiguousarray(lr.coef_.T)  # features x classes
        self._intercept = lr.intercept_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        scores = np.tile(self._intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            for analyze, vocabulary, idf, offset in self._parts:
                counts = Counter(vocabulary[g] for g in analyze(text) if g in vocabulary)
                if not counts:
                    continue
                columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                values = (1.0 + np.log(tf)) * idf[columns]
                values /= np.linalg.norm(values)
                scores[row] += values @ self._weights[columns + offset]
        probabilities: np.ndarray[Any, Any] = softmax(scores, axis=1)
        return probabilities
