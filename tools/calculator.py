"""Safe, exact arithmetic for the assistant's ``calculate(expression)`` tool.

Expressions are parsed with :func:`ast.parse` and evaluated by walking an allow-list of
node types; ``eval``/``exec`` are never used. Size limits guard against abusive input.

Numbers stay exact as long as they can: integers and the decimals a person types are
:class:`~fractions.Fraction` values, so ``0.1 + 0.2`` is ``3/10`` and ``2**64 / 3`` keeps
every digit. Only what cannot be exact (``sqrt(2)``, ``pi``, ``sin``, fractional powers)
becomes a float, and the answer then says ``≈``.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from fractions import Fraction

Number = int | Fraction | float

MAX_LENGTH = 500
MAX_EXPONENT = 10_000
MAX_POWER_DIGITS = 4300
MAX_INT_DIGITS = 5000
MAX_FACTORIAL = 1000
SIGNIFICANT_DIGITS = 12
"""Significant digits of a decimal approximation (more when the integer part is longer)."""
MAX_FRACTION_CHARS = 50
"""A fraction or exact decimal longer than this is shown by its approximation only."""
_INT_LIMIT = 10**MAX_INT_DIGITS

HINT = (
    "You can use +, -, *, /, ^, parentheses, pi, e and functions like sqrt, log, sin, "
    "round and factorial."
)
TOO_LARGE = "The number is too large to compute exactly."


class CalculationError(ValueError):
    """An expression is invalid, unsupported or too large; the message is a sentence."""


def _digits(n: int) -> int:
    """Number of decimal digits of ``abs(n)`` (1 for 0), without ``str()``'s size limit."""
    n = abs(n)
    estimate = max(1, int(n.bit_length() * 0.30102999566398))
    return estimate + 1 if n >= 10**estimate else estimate


def _power(base: Number, exp: Number) -> Number:
    """Return ``base ** exp``, refusing exponents or results that are too large."""
    if not -MAX_EXPONENT <= exp <= MAX_EXPONENT:
        raise CalculationError(f"The exponent is too large (the limit is {MAX_EXPONENT:,}).")
    if base != 0:
        if isinstance(base, Fraction):  # digits of the result's numerator or denominator
            size = max(math.log10(abs(base.numerator)), math.log10(base.denominator))
        else:
            size = abs(math.log10(abs(base)))
        if math.fabs(exp) * size > MAX_POWER_DIGITS:
            raise CalculationError(TOO_LARGE)
    if isinstance(exp, Fraction) and exp.denominator == 1:
        exp = exp.numerator  # an exact power
    return base**exp


def _sqrt(x: Number) -> Number:
    """Exact for perfect squares (``sqrt(16/9)`` is ``4/3``), a float otherwise."""
    if isinstance(x, Fraction) and x >= 0:
        top, bottom = math.isqrt(x.numerator), math.isqrt(x.denominator)
        if top * top == x.numerator and bottom * bottom == x.denominator:
            return Fraction(top, bottom)
    return math.sqrt(x)


def _factorial(x: Number) -> int:
    """Return ``x!`` for a whole number ``x`` from 0 to :data:`MAX_FACTORIAL`."""
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    if isinstance(x, Fraction) and x.denominator == 1:
        x = x.numerator
    if not isinstance(x, int) or x < 0:
        raise CalculationError("factorial() needs a non-negative integer.")
    if x > MAX_FACTORIAL:
        raise CalculationError(f"factorial() argument is too large (the limit is {MAX_FACTORIAL}).")
    return math.factorial(x)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    """Round like the builtin (exactly, for exact numbers), with bounded digits."""
    if ndigits is None:
        return round(x)
    if isinstance(ndigits, Fraction) and ndigits.denominator == 1:
        ndigits = ndigits.numerator
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_INT_DIGITS:
        raise CalculationError("round() digits must be a small integer.")
    if isinstance(x, Fraction):
        return round(x, ndigits)  # exact: round(2.675, 2) is 2.68, not the float's 2.67
    return round(x, ndigits)


def _plain(x: Number) -> int | float:
    """An int stays an int (``math.log`` takes huge ones), anything else becomes a float."""
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    return x if isinstance(x, int) else float(x)


def _inexact(func: Callable[..., float]) -> Callable[..., float]:
    """``func`` on plain numbers; its float result marks the answer as approximate."""

    def call(*args: Number) -> float:
        return func(*(_plain(arg) for arg in args))

    return call


_OPERATORS: dict[type[ast.AST], Callable[..., Number]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: _power, ast.UAdd: operator.pos, ast.USub: operator.neg,
}  # fmt: skip
_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "xor",
    ast.MatMult: "@", ast.Invert: "~", ast.Not: "not",
}  # fmt: skip
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
# name -> (function, minimum number of arguments, maximum number of arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (_sqrt, 1, 1), "log": (_inexact(math.log), 1, 2),
    "log10": (_inexact(math.log10), 1, 1), "log2": (_inexact(math.log2), 1, 1),
    "exp": (_inexact(math.exp), 1, 1), "sin": (_inexact(math.sin), 1, 1),
    "cos": (_inexact(math.cos), 1, 1), "tan": (_inexact(math.tan), 1, 1),
    "asin": (_inexact(math.asin), 1, 1), "acos": (_inexact(math.acos), 1, 1),
    "atan": (_inexact(math.atan), 1, 1), "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1), "round": (_round, 1, 2), "abs": (abs, 1, 1),
    "min": (lambda *a: min(a), 1, 100), "max": (lambda *a: max(a), 1, 100),
    "factorial": (_factorial, 1, 1),
}  # fmt: skip
_SYNTAX_NAMES: dict[type[ast.AST], str] = {
    ast.Attribute: "Attribute access is", ast.Subscript: "Subscripts are",
    ast.Lambda: "Lambdas are", ast.ListComp: "Comprehensions are",
    ast.SetComp: "Comprehensions are", ast.DictComp: "Comprehensions are",
    ast.GeneratorExp: "Comprehensions are", ast.Compare: "Comparisons are",
    ast.Tuple: "Tuples are", ast.BoolOp: "Boolean operators are",
    ast.IfExp: "Conditional expressions are",
}  # fmt: skip
_DECIMAL = re.compile(r"(?P<int>\d*)(?:\.(?P<frac>\d*))?(?:[eE](?P<exp>[+-]?\d+))?")


def _checked(value: object) -> Number:
    """Validate an intermediate result: real, finite, and of bounded size."""
    if isinstance(value, bool) or not isinstance(value, int | Fraction | float):
        raise CalculationError("The result is not a real number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError(
            "The number is too large to compute."
            if math.isinf(value)
            else "The result is not a number."
        )
    if isinstance(value, int):
        value = Fraction(value)
    if isinstance(value, Fraction) and max(abs(value.numerator), value.denominator) >= _INT_LIMIT:
        raise CalculationError(TOO_LARGE)
    return value


def _apply(func: Callable[..., object], name: str, *args: Number) -> Number:
    """Call ``func(*args)``, translating arithmetic errors into CalculationError."""
    try:
        return _checked(func(*args))
    except CalculationError:
        raise
    except ZeroDivisionError:
        raise CalculationError("Division by zero.") from None
    except OverflowError:
        raise CalculationError("The number is too large to compute.") from None
    except (ValueError, TypeError):
        raise CalculationError(f"Invalid argument for {name}.") from None


def _literal(node: ast.Constant, source: str) -> Number:
    """A number as written: decimals such as ``0.1`` become exact fractions."""
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, complex):
            raise CalculationError("Complex numbers are not supported.")
        raise CalculationError(f"Only numbers are allowed, not {type(value).__name__}.")
    if isinstance(value, int):
        return _checked(value)
    written = (ast.get_source_segment(source, node) or "").replace("_", "")
    match = _DECIMAL.fullmatch(written)
    if match is None:  # pragma: no cover - Python accepted it as a float literal
        return _checked(value)
    exponent = int(match["exp"] or 0)
    if abs(exponent) > MAX_INT_DIGITS:
        small = exponent < 0
        raise CalculationError(TOO_LARGE.replace("large", "small") if small else TOO_LARGE)
    digits = (match["int"] or "") + (match["frac"] or "")
    return _checked(
        Fraction(int(digits or "0")) * Fraction(10) ** (exponent - len(match["frac"] or ""))
    )


def _eval(node: ast.AST, source: str) -> Number:
    """Recursively evaluate an allow-listed AST node."""
    if isinstance(node, ast.Constant):
        return _literal(node, source)
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        if (op := _OPERATORS.get(type(node.op))) is None:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise CalculationError(f"The operator {symbol} is not supported. {HINT}")
        operands = (node.left, node.right) if isinstance(node, ast.BinOp) else (node.operand,)
        return _apply(op, "the operator", *(_eval(operand, source) for operand in operands))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise CalculationError(f"{node.id} must be called with arguments, e.g. {node.id}(2).")
        raise CalculationError(f"Unknown name: {node.id}. {HINT}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise CalculationError(f"Only calls to named math functions are allowed. {HINT}")
        name = node.func.id
        if name not in _FUNCTIONS:
            raise CalculationError(f"Unknown function: {name}. {HINT}")
        func, lo, hi = _FUNCTIONS[name]
        if node.keywords:
            raise CalculationError("Keyword arguments are not allowed.")
        if not lo <= len(node.args) <= hi:
            wanted = f"{lo}" if lo == hi else f"{lo} to {hi}"
            plural = "" if hi == 1 else "s"
            raise CalculationError(
                f"Wrong number of arguments: {name}() takes {wanted} argument{plural}."
            )
        return _apply(func, f"{name}()", *(_eval(arg, source) for arg in node.args))
    what = _SYNTAX_NAMES.get(type(node), f"{type(node).__name__} is")
    raise CalculationError(f"{what} not supported. {HINT}")


def evaluate(expression: str) -> Number:
    """Safely evaluate an arithmetic expression.

    Returns an ``int`` for whole results, a ``Fraction`` for other exact ones and a
    ``float`` when the result cannot be exact.
    """
    if len(expression) > MAX_LENGTH:
        raise CalculationError(
            f"The expression is too long (the limit is {MAX_LENGTH} characters)."
        )
    if not expression.strip():
        raise CalculationError("The expression is empty.")
    source = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    source = source.replace("−", "-")
    try:
        tree = ast.parse(source, mode="eval")
        value = _eval(tree.body, source)
    except (SyntaxError, ValueError) as exc:
        if isinstance(exc, CalculationError):
            raise
        raise CalculationError(f"The expression is not valid arithmetic. {HINT}") from None
    except (RecursionError, MemoryError):
        raise CalculationError("The expression is too deeply nested.") from None
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return value


def _int_text(value: int) -> str:
    """Every digit of ``value``, chunked to stay under Python's int-to-str limit."""
    digits, rest, chunks = 500, abs(value), []
    while rest >= 10**digits:
        rest, chunk = divmod(rest, 10**digits)
        chunks.append(f"{chunk:0{digits}d}")
    return ("-" if value < 0 else "") + str(rest) + "".join(reversed(chunks))


def _exact_decimal(value: Fraction, max_places: int = 20) -> str | None:
    """``value`` as a finite decimal (``3/10`` -> ``0.3``), or None if it has none that short."""
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    places = max(twos, fives)
    if den != 1 or places > max_places:
        return None
    if places == 0:
        return _int_text(value.numerator)
    scaled = _int_text(abs(value.numerator) * 10**places // value.denominator).rjust(
        places + 1, "0"
    )
    sign = "-" if value < 0 else ""
    return f"{sign}{scaled[:-places]}.{scaled[-places:]}".rstrip("0").rstrip(".")


def _approximate(value: Fraction) -> str:
    """A decimal approximation: 12 significant digits, or two decimals of a long integer part."""
    if value == 0:
        return "0"
    num, den = abs(value.numerator), value.denominator
    power = _digits(num) - _digits(den)  # 10**power is within a factor 10 of num/den
    if num * 10 ** max(0, -power) < den * 10 ** max(0, power):
        power -= 1
    significant = max(SIGNIFICANT_DIGITS, power + 3) if 0 <= power < 30 else SIGNIFICANT_DIGITS
    shift = significant - 1 - power
    mantissa = round(Fraction(num * 10 ** max(0, shift), den * 10 ** max(0, -shift)))
    if mantissa >= 10**significant:  # rounding carried into a new digit (9.99... -> 10.0)
        power, shift, mantissa = power + 1, shift - 1, mantissa // 10
    sign = "-" if value < 0 else ""
    text = _int_text(mantissa)
    if -5 <= power < 30:
        fixed = _exact_decimal(
            Fraction(mantissa, 10**shift) if shift >= 0 else Fraction(mantissa * 10**-shift)
        )
        return sign + (fixed or text)
    fraction = text[1:].rstrip("0")
    return f"{sign}{text[0]}{'.' + fraction if fraction else ''}e{power:+03d}"


def format_number(value: Number) -> str:
    """Format a result: integers in full, exact fractions as ``n/d ≈ decimal``.

    Fractions with a short finite decimal are shown as that decimal (``3/10`` -> ``0.3``);
    floats get up to 12 significant digits.
    """
    if isinstance(value, Fraction) and value.denominator == 1:
        value = value.numerator
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, Fraction):
        decimal = _exact_decimal(value)
        if decimal is not None and len(decimal) <= MAX_FRACTION_CHARS:
            return decimal
        approximation = _approximate(value)
        if _digits(value.numerator) + _digits(value.denominator) + 1 > MAX_FRACTION_CHARS:
            return f"≈ {approximation}"
        return f"{value.numerator}/{value.denominator} ≈ {approximation}"
    if not math.isfinite(value):
        raise CalculationError("The number is too large to compute.")
    return f"{value + 0.0:.12g}"  # + 0.0 turns -0.0 into 0.0


def calculate(expression: str) -> str:
    """The tool's answer: ``"<expression> = <result>"``, or the error as a sentence.

    Inexact results read ``"<expression> ≈ <decimal>"``. Errors are returned, not raised,
    so the person and the model read ``"Division by zero."`` rather than a traceback name.
    """
    try:
        value = evaluate(expression)
        text = format_number(value)
    except CalculationError as exc:
        return str(exc)
    if isinstance(value, float) or text.startswith("≈"):
        return f"{expression.strip()} ≈ {text.removeprefix('≈ ')}"
    return f"{expression.strip()} = {text}"
