"""Tests for the safe arithmetic calculator tool."""

import math
import re

import pytest

from tools.calculator import CalculationError, calculate, evaluate, format_number


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 2", 4),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("-3 ** 2", -9),
        ("2 ** 3 ** 2", 512),
        ("+5 - -5", 10),
        ("1_000 * 3", 3000),
        ("1.5e3 + 2E-1", 1500.2),
        ("6 × 7", 42),
        ("9 ÷ 4", 2.25),
        ("−3 + 1", -2),
    ],
)
def test_arithmetic_and_precedence(expression: str, expected: float) -> None:
    assert evaluate(expression) == pytest.approx(expected)


def test_caret_is_power() -> None:
    assert evaluate("2^10") == 1024
    assert evaluate("2^3^2") == 512
    assert evaluate("2^-1") == 0.5


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sqrt(16)", 4.0),
        ("log(e)", 1.0),
        ("log(8, 2)", 3.0),
        ("log10(1000)", 3.0),
        ("log2(1024)", 10.0),
        ("exp(0)", 1.0),
        ("sin(pi / 2)", 1.0),
        ("cos(0)", 1.0),
        ("tan(0)", 0.0),
        ("asin(1)", math.pi / 2),
        ("acos(1)", 0.0),
        ("atan(1)", math.pi / 4),
        ("floor(2.7)", 2),
        ("ceil(2.1)", 3),
        ("round(2.567)", 3),
        ("round(2.567, 2)", 2.57),
        ("abs(-4.5)", 4.5),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2.5)", 3),
        ("factorial(5)", 120),
        ("tau / 2", math.pi),
        ("2 * pi", math.tau),
    ],
)
def test_functions_and_constants(expression: str, expected: float) -> None:
    assert evaluate(expression) == pytest.approx(expected)


def test_int_results_stay_int() -> None:
    result = evaluate("factorial(20)")
    assert isinstance(result, int)
    assert result == math.factorial(20)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (4, "4"),
        (-12, "-12"),
        (0.1 + 0.2, "0.3"),
        (2.5, "2.5"),
        (4.0, "4"),
        (-0.0, "0"),
        (1 / 3, "0.333333333333"),
        (1e20, "1e+20"),
        (1.5e-7, "1.5e-07"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_format_number_huge_int_and_inf() -> None:
    assert format_number(10**4500) == "1" + "0" * 4500
    assert format_number(-(10**4500) - 7) == "-1" + "0" * 4499 + "7"
    with pytest.raises(CalculationError):
        format_number(math.inf)


def test_calculate_output() -> None:
    assert calculate("2 + 2") == "2 + 2 = 4"
    assert calculate("  0.1 + 0.2 ") == "0.1 + 0.2 = 0.3"
    assert calculate("2^10") == "2^10 = 1024"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero"),
        ("1 // 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("9 ** 99999", "exponent is too large"),
        ("2 ^ 10001", "exponent is too large"),
        ("10 ** 5000", "power is too large"),
        ("9 ** 9999", "power is too large"),
        ("2 ** 2 ** 2 ** 2 ** 2", "exponent is too large"),
        ("0.001 ** -5000", "power is too large"),
        ("2.0 ** 5000", "too large"),
        ("factorial(1001)", "factorial() argument is too large"),
        ("factorial(-1)", "non-negative integer"),
        ("factorial(2.5)", "non-negative integer"),
        ("factorial(1000) * factorial(1000)", "integer is too large"),
        ("exp(1000)", "too large"),
        ("1e999", "too large"),
        ("1e308 * 10", "too large"),
        ("10 ** 400 / 3", "too large"),
        ("sqrt(-1)", "invalid argument for sqrt()"),
        ("log(0)", "invalid argument for log()"),
        ("(-8) ** (1 / 3)", "not a real number"),
        ("round(5, -100000)", "round() digits"),
    ],
)
def test_math_errors_and_limits(expression: str, message: str) -> None:
    with pytest.raises(CalculationError, match=re.escape(message)):
        evaluate(expression)


def test_factorial_limit_is_inclusive() -> None:
    assert evaluate("factorial(1000)") == math.factorial(1000)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "unsupported function '__import__'"),
        ("__import__('os').system('ls')", "only calls to named math functions"),
        ("().__class__", "attribute access"),
        ("().__class__.__bases__[0].__subclasses__()", "only calls to named math functions"),
        ("(1).real", "attribute access"),
        ("math.sqrt(4)", "only calls to named math functions"),
        ("open('x')", "unsupported function 'open'"),
        ("eval('1')", "unsupported function 'eval'"),
        ("os", "unsupported name 'os'"),
        ("__builtins__", "unsupported name '__builtins__'"),
        ("sqrt", "must be called"),
        ("'abc'", "unsupported constant of type str"),
        ("True", "unsupported constant of type bool"),
        ("None", "unsupported constant of type NoneType"),
        ("2j", "unsupported constant of type complex"),
        ("[1, 2][0]", "subscripts"),
        ("lambda: 1", "lambdas"),
        ("(lambda: 1)()", "only calls to named math functions"),
        ("[x for x in (1, 2)]", "comprehensions"),
        ("1 < 2", "comparisons"),
        ("1 and 2", "boolean operators"),
        ("1 if 2 else 3", "conditional expressions"),
        ("1, 2", "tuples"),
        ("2 << 3", "unsupported operator"),
        ("~1", "unsupported operator"),
        ("not 1", "unsupported operator"),
        ("sqrt(x=4)", "keyword arguments"),
        ("sqrt(1, 2)", "wrong number of arguments for sqrt()"),
        ("min()", "wrong number of arguments for min()"),
        ("2 +", "invalid expression syntax"),
        ("import os", "invalid expression syntax"),
        ("1\x00", "invalid expression syntax"),
    ],
)
def test_disallowed_syntax(expression: str, message: str) -> None:
    with pytest.raises(CalculationError, match=re.escape(message)):
        calculate(expression)


@pytest.mark.parametrize("expression", ["", "   ", "\n"])
def test_empty_expression(expression: str) -> None:
    with pytest.raises(CalculationError, match="expression is empty"):
        evaluate(expression)


def test_too_long_expression() -> None:
    assert evaluate("+".join(["1"] * 250)) == 250  # 499 characters is fine
    with pytest.raises(CalculationError, match=r"too long \(max 500 characters\)"):
        evaluate("1" * 501)


def test_deep_nesting_is_refused_cleanly() -> None:
    with pytest.raises(CalculationError):
        evaluate("(" * 240 + "1" + ")" * 240)
    assert evaluate("-" * 100 + "1") == 1
    try:  # depending on the stack depth this either evaluates or is refused, never crashes
        assert evaluate("-" * 499 + "1") == -1
    except CalculationError as exc:
        assert "too deeply nested" in str(exc)


def test_error_is_value_error() -> None:
    assert issubclass(CalculationError, ValueError)
