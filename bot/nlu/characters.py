"""A third opinion on the intent: a linear model on the message's own characters and pinyin.

The pipeline's featurizers see jieba's words, and character n-grams inside each word. Two
kinds of customer writing slip past them:

- **Pinyin and mixed script.** With the input method off, customers type "tingdian了",
  "zhuan rengong" or "dianfei多少". Spelling every Chinese character in pinyin
  (`romanize`) puts "停电" and "tingdian" on the same features.
- **Words jieba splits differently** from the training data (dialect, typos): character
  n-grams across word boundaries still match.

English word pairs ("pay up", "feel cheated") come along as word bigrams.

`bot.nlu.blend.BlendedIntentClassifier` trains one on the intent examples' text and
averages it with DIET and its own logistic regression; `bot.nlu.faq_selector` trains one
on the FAQ questions and averages it with Rasa's response selector (weights in
config.yml).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from pypinyin import lazy_pinyin
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

_SPACES = re.compile(r"\s+")


def romanize(text: str) -> str:
    """Lower-cased text with every Chinese character spelt in toneless pinyin and no
    spaces, so "停 电" and "tingdian" read the same: "tingdian"."""
    return _SPACES.sub("", "".join(lazy_pinyin(text.lower())))


# The n-gram views, each TF-IDF weighted on its own (scikit-learn's FeatureUnion).
PARTS: list[tuple[str, dict[str, Any]]] = [
    ("chars", {"analyzer": "char", "ngram_range": (1, 3)}),
    ("pinyin", {"analyzer": "char", "ngram_range": (2, 5), "preprocessor": romanize}),
    ("words", {"ngram_range": (1, 2)}),
]


def fit_character_model(
    texts: Sequence[str], labels: Sequence[str], c: float, max_iter: int, random_state: Any
) -> Pipeline:
    """TF-IDF on characters (1-3), pinyin letters (2-5) and words (1-2), then a logistic
    regression, fitted. An n-gram seen only once in training is dropped (`min_df=2`): it
    halves the features, and training time, at no measured cost. A view with no n-gram
    seen twice (Chinese-only data has no repeated "words": scikit-learn's word pattern
    takes a run of Chinese as one) keeps every n-gram instead."""
    parts = []
    for name, kwargs in PARTS:
        for min_df in (2, 1):
            vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=min_df, **kwargs)
            try:
                vectorizer.fit(texts)
            except ValueError:  # scikit-learn: "no terms remain" / "empty vocabulary"
                continue
            parts.append((name, vectorizer))
            break
    if not parts:
        raise ValueError("the training texts have no characters to learn from")
    lr = LogisticRegression(C=c, max_iter=max_iter, random_state=random_state)
    model = Pipeline([("features", FeatureUnion(parts)), ("lr", lr)])
    with warnings.catch_warnings():
        # A max_iter short of convergence is a choice made on measurements (config.yml).
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(texts, labels)


class CharacterScorer:
    """`fit_character_model(...).predict_proba`, without scikit-learn's
    per-call checks and sparse matrices: 0.3 ms a message instead of 2.9. Every message
    is parsed once per turn, so this is on every turn's path.

    Each TF-IDF part is computed as scikit-learn does (counts, 1 + log, times idf, unit
    length per part), and the multinomial logistic regression's softmax over the weighted
    sum. tests/nlu/test_blend.py checks it against the pipeline."""

    def __init__(self, model: Pipeline) -> None:
        union, lr = model.named_steps["features"], model.named_steps["lr"]
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
        if scores.shape[1] == 1:  # two classes: one score, a sigmoid (scikit-learn's expit)
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        probabilities: np.ndarray[Any, Any] = softmax(scores, axis=1)
        return probabilities
