"""Prompt templates for the generated task sets, one `Relation` per pair category.

Contents
--------
Relation  : which fact table a category reads, which columns it needs, and its templates.
RELATIONS : the relations used by `tasks.generate`, in output order.

Each relation has three template families, filled from one row of a fact table:
``recall`` (ask one stored fact), ``reasoning`` (state two facts, ask their composition,
in the study's style) and ``reworded`` (the same reasoning question, worded differently and
longer by about as much as reasoning is longer than recall; used by the surface-only
control). Fields are column names; ``{the_X}`` is column X with its ``X_article`` column
prepended ("the Netherlands"). A rendered prompt's first letter is upper-cased.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Relation:
    """A fact relation and its prompt templates.

    Parameters
    ----------
    category : str
        Pair category (one of `tasks.taskset.CATEGORIES`); also the pair-id prefix.
    table : str
        Fact table file name under ``tasks/data/facts/``.
    key : str
        Column whose value (slugified) makes the pair id unique within the category.
    requires : tuple of str
        Columns that must be non-empty for a row to yield a pair (blank = fact omitted
        because it is ambiguous, e.g. a country with several official languages).
    recall_answer, reasoning_answer : str
        Columns holding the answers; a column ``<name>_aliases`` ("a|b") adds aliases.
    recall, reasoning, reworded : tuple of str
        Template families (see the module docstring).
    """

    category: str
    table: str
    key: str
    requires: tuple[str, ...]
    recall_answer: str
    reasoning_answer: str
    recall: tuple[str, ...]
    reasoning: tuple[str, ...]
    reworded: tuple[str, ...]


RELATIONS: tuple[Relation, ...] = (
    Relation(
        category="capital", table="countries.csv", key="country",
        requires=("capital", "continent"), recall_answer="capital", reasoning_answer="continent",
        recall=(
            "What is the capital of {the_country}?",
            "What is the capital city of {the_country}?",
            "Which city is the capital of {the_country}?",
        ),
        reasoning=(
            "If {capital} is the capital of {the_country} and {the_country} is in {continent}, "
            "what continent is {capital} in?",
            "Given that {capital} is the capital of {the_country} and that {the_country} is in "
            "{continent}, on which continent is {capital}?",
            "{capital} is the capital of {the_country}, and {the_country} is in {continent}. "
            "What continent is {capital} in?",
        ),
        reworded=(
            "Suppose we know that {capital} is the capital city of {the_country}, and we also "
            "know that {the_country} lies in {continent}. Putting these two facts together, on "
            "which continent is the city of {capital} located?",
            "Here are two facts. First, the capital of {the_country} is {capital}. Second, "
            "{the_country} is a country in {continent}. Using both facts, tell me which "
            "continent the city of {capital} is in.",
            "Consider this: the city of {capital} serves as the capital of {the_country}, and "
            "{the_country} is located in {continent}. Based on that information, which "
            "continent is {capital} part of?",
        ),
    ),
    Relation(
        category="language", table="countries.csv", key="country",
        requires=("capital", "language"), recall_answer="language", reasoning_answer="language",
        recall=(
            "What language is spoken in {the_country}?",
            "What is the main language of {the_country}?",
            "Which language do people in {the_country} speak?",
        ),
        reasoning=(
            "If {capital} is the capital of {the_country} and people in {the_country} speak "
            "{language}, what language do people in {capital} speak?",
            "Given that {capital} is the capital of {the_country} and that people in "
            "{the_country} speak {language}, which language is spoken in {capital}?",
            "{capital} is the capital of {the_country}, and people in {the_country} speak "
            "{language}. What language is spoken in {capital}?",
        ),
        reworded=(
            "Suppose we know that {capital} is the capital city of {the_country}, and we also "
            "know that most people in {the_country} speak {language}. Putting these two facts "
            "together, which language do most people in {capital} speak?",
            "Here are two facts. First, the capital of {the_country} is {capital}. Second, the "
            "main language of {the_country} is {language}. Using both facts, tell me which "
            "language is spoken in the city of {capital}.",
            "Consider this: the city of {capital} serves as the capital of {the_country}, and "
            "{language} is the language most people in {the_country} speak. Based on that "
            "information, what language do people in {capital} speak?",
        ),
    ),
    Relation(
        category="currency", table="countries.csv", key="country",
        requires=("capital", "currency"), recall_answer="currency", reasoning_answer="currency",
        recall=(
            "What is the currency of {the_country}?",
            "Which currency is used in {the_country}?",
            "What currency do people use in {the_country}?",
        ),
        reasoning=(
            "If {capital} is the capital of {the_country} and {the_country} uses the {currency}, "
            "what currency is used in {capital}?",
            "Given that {capital} is the capital of {the_country} and that {the_country} uses "
            "the {currency}, which currency do people use in {capital}?",
            "{capital} is the capital of {the_country}, and {the_country} uses the {currency}. "
            "What currency is used in {capital}?",
        ),
        reworded=(
            "Suppose we know that {capital} is the capital city of {the_country}, and we also "
            "know that {the_country} uses the {currency} as its currency. Putting these two "
            "facts together, which currency do people pay with in {capital}?",
            "Here are two facts. First, the capital of {the_country} is {capital}. Second, the "
            "currency of {the_country} is the {currency}. Using both facts, tell me which "
            "currency is used in the city of {capital}.",
            "Consider this: the city of {capital} serves as the capital of {the_country}, and "
            "the {currency} is the currency of {the_country}. Based on that information, what "
            "currency do shops in {capital} accept?",
        ),
    ),
    Relation(
        category="chemical-symbol", table="elements.csv", key="name",
        requires=("symbol", "state"), recall_answer="symbol", reasoning_answer="state",
        recall=(
            "What is the chemical symbol for {name}?",
            "What is the symbol of the element {name}?",
            "Which symbol represents {name} on the periodic table?",
        ),
        reasoning=(
            "If the chemical symbol for {name} is {symbol} and {name} is a {state} at room "
            "temperature, what state is {symbol} in at room temperature?",
            "Given that {symbol} is the symbol for {name} and that {name} is a {state} at room "
            "temperature, what state of matter is {symbol} at room temperature?",
            "{name} has the chemical symbol {symbol}, and {name} is a {state} at room "
            "temperature. In what state is {symbol} at room temperature?",
        ),
        reworded=(
            "Suppose we know that the element {name} is written with the chemical symbol "
            "{symbol}, and we also know that {name} is a {state} at room temperature. Putting "
            "these two facts together, what state is {symbol} in at room temperature?",
            "Here are two facts. First, the chemical symbol of {name} is {symbol}. Second, at "
            "room temperature {name} is a {state}. Using both facts, tell me the state of "
            "matter of the element {symbol} at room temperature.",
            "Consider this: the symbol {symbol} stands for the element {name}, and {name} is "
            "found as a {state} at room temperature. Based on that information, in what state "
            "is {symbol} at room temperature?",
        ),
    ),
    Relation(
        category="element", table="elements.csv", key="name",
        requires=("symbol", "atomic_number"), recall_answer="name",
        reasoning_answer="atomic_number",
        recall=(
            "Which element has the chemical symbol {symbol}?",
            "Which chemical element has the symbol {symbol}?",
            "What element does the symbol {symbol} stand for?",
        ),
        reasoning=(
            "If {symbol} is the chemical symbol for {name} and {name} has atomic number "
            "{atomic_number}, what is the atomic number of {symbol}?",
            "Given that {symbol} is the symbol for {name} and that the atomic number of {name} "
            "is {atomic_number}, what atomic number does {symbol} have?",
            "{symbol} is the chemical symbol for {name}, and {name} has atomic number "
            "{atomic_number}. What is the atomic number of {symbol}?",
        ),
        reworded=(
            "Suppose we know that {symbol} is the chemical symbol used for {name}, and we also "
            "know that the atomic number of {name} is {atomic_number}. Putting these two facts "
            "together, what is the atomic number of the element {symbol}?",
            "Here are two facts. First, the symbol {symbol} stands for {name}. Second, {name} "
            "has the atomic number {atomic_number}. Using both facts, tell me the atomic number "
            "of the element written as {symbol}.",
            "Consider this: chemists write {name} with the symbol {symbol}, and the atomic "
            "number of {name} is {atomic_number}. Based on that information, which atomic "
            "number belongs to {symbol}?",
        ),
    ),
    Relation(
        category="author", table="books.csv", key="title",
        requires=("author", "surname", "nationality"), recall_answer="surname",
        reasoning_answer="nationality",
        recall=(
            "Who wrote {title}?",
            "Who is the author of {title}?",
            "Which writer wrote {title}?",
        ),
        reasoning=(
            "If {author} wrote {title} and {author} was {nationality}, what nationality was "
            "the author of {title}?",
            "Given that {title} was written by {author} and that {author} was {nationality}, "
            "what nationality was the writer of {title}?",
            "{author} wrote {title}, and {author} was {nationality}. What nationality was the "
            "author of {title}?",
        ),
        reworded=(
            "Suppose we know that the book {title} was written by {author}, and we also know "
            "that {author} was {nationality}. Putting these two facts together, what "
            "nationality did the author of {title} have?",
            "Here are two facts. First, {title} is a work by {author}. Second, {author} was "
            "{nationality}. Using both facts, tell me the nationality of the person who wrote "
            "{title}.",
            "Consider this: the writer {author} is the author of {title}, and {author} was "
            "{nationality} by nationality. Based on that information, what nationality was the "
            "author of {title}?",
        ),
    ),
    Relation(
        category="painter", table="paintings.csv", key="title",
        requires=("painter", "surname", "nationality"), recall_answer="surname",
        reasoning_answer="nationality",
        recall=(
            "Who painted {title}?",
            "Which artist painted {title}?",
            "Who is the painter of {title}?",
        ),
        reasoning=(
            "If {painter} painted {title} and {painter} was {nationality}, what nationality "
            "was the painter of {title}?",
            "Given that {title} was painted by {painter} and that {painter} was {nationality}, "
            "what nationality was the artist who painted {title}?",
            "{painter} painted {title}, and {painter} was {nationality}. What nationality was "
            "the painter of {title}?",
        ),
        reworded=(
            "Suppose we know that the painting {title} is by {painter}, and we also know that "
            "{painter} was {nationality}. Putting these two facts together, what nationality "
            "did the painter of {title} have?",
            "Here are two facts. First, {title} was painted by {painter}. Second, {painter} was "
            "{nationality}. Using both facts, tell me the nationality of the artist who "
            "painted {title}.",
            "Consider this: the artist {painter} created the painting {title}, and {painter} "
            "was {nationality} by nationality. Based on that information, what nationality was "
            "the painter of {title}?",
        ),
    ),
    Relation(
        category="landmark", table="landmarks.csv", key="landmark",
        requires=("city", "country"), recall_answer="city", reasoning_answer="country",
        recall=(
            "In which city is {landmark}?",
            "Which city is {landmark} in?",
            "In what city can you find {landmark}?",
        ),
        reasoning=(
            "If {landmark} is in {city} and {city} is in {the_country}, which country is "
            "{landmark} in?",
            "Given that {landmark} is in {city} and that {city} is in {the_country}, in which "
            "country is {landmark}?",
            "{landmark} is in {city}, and {city} is in {the_country}. Which country is "
            "{landmark} in?",
        ),
        reworded=(
            "Suppose we know that {landmark} is located in the city of {city}, and we also "
            "know that {city} is a city in {the_country}. Putting these two facts together, "
            "in which country is {landmark} located?",
            "Here are two facts. First, {landmark} can be found in {city}. Second, {city} lies "
            "in {the_country}. Using both facts, tell me which country {landmark} is in.",
            "Consider this: visitors find {landmark} in the city of {city}, and {city} is part "
            "of {the_country}. Based on that information, which country is {landmark} in?",
        ),
    ),
)
