"""Safe arithmetic evaluation for the assistant's ``calculate(expression)`` tool.

Expressions are parsed with :func:`ast.parse` and evaluated by walking an allow-list of
node types; ``eval``/``exec`` are never used. Size limits guard against abusive input.
"""

import ast
import math
import operator
from collections.abc import Callable

Number = int | float

MAX_LENGTH = 500
MAX_EXPONENT = 10_000
MAX_POWER_DIGITS = 4300
MAX_INT_DIGITS = 5000
MAX_FACTORIAL = 1000
_INT_LIMIT = 10**MAX_INT_DIGITS


class CalculationError(ValueError):
    """Raised when an expression is invalid, unsupported, or exceeds a limit."""


def _power(base: Number, exp: Number) -> Number:
    """Return ``base ** exp``, refusing exponents or results that are too large."""
    if abs(exp) > MAX_EXPONENT:
        raise CalculationError(f"exponent is too large (max {MAX_EXPONENT})")
    if base != 0 and exp * math.log10(abs(base)) > MAX_POWER_DIGITS:
        raise CalculationError("result of the power is too large")
    return base**exp


def _factorial(x: Number) -> int:
    """Return ``x!`` for a non-negative integer ``x`` up to :data:`MAX_FACTORIAL`."""
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    if not isinstance(x, int) or x < 0:
        raise CalculationError("factorial() needs a non-negative integer")
    if x > MAX_FACTORIAL:
        raise CalculationError(f"factorial() argument is too large (max {MAX_FACTORIAL})")
    return math.factorial(x)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    """Round like the builtin, with a bounded integer number of digits."""
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_INT_DIGITS:
        raise CalculationError("round() digits must be a small integer")
    return round(x, ndigits)


_OPERATORS: dict[type[ast.AST], Callable[..., Number]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: _power, ast.UAdd: operator.pos, ast.USub: operator.neg,
}  # fmt: skip
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
# name -> (function, minimum number of arguments, maximum number of arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1), "log": (math.log, 1, 2), "log10": (math.log10, 1, 1),
    "log2": (math.log2, 1, 1), "exp": (math.exp, 1, 1), "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1), "tan": (math.tan, 1, 1), "asin": (math.asin, 1, 1),
    "acos": (math.acos, 1, 1), "atan": (math.atan, 1, 1), "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1), "round": (_round, 1, 2), "abs": (abs, 1, 1),
    "min": (lambda *a: min(a), 1, 100), "max": (lambda *a: max(a), 1, 100),
    "factorial": (_factorial, 1, 1),
}  # fmt: skip
_SYNTAX_NAMES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.Compare: "comparisons",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.Tuple: "tuples",
    ast.BoolOp: "boolean operators", ast.IfExp: "conditional expressions",
}  # fmt: skip


def _checked(value: object) -> Number:
    """Validate an intermediate result: real, finite, and of bounded size."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalculationError("result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("number is too large" if math.isinf(value) else "result is NaN")
    if isinstance(value, int) and abs(value) >= _INT_LIMIT:
        raise CalculationError(f"integer is too large (max {MAX_INT_DIGITS} digits)")
    return value


def _apply(func: Callable[..., object], name: str, *args: Number) -> Number:
    """Call ``func(*args)``, translating arithmetic errors into CalculationError."""
    try:
        return _checked(func(*args))
    except CalculationError:
        raise
    except ZeroDivisionError:
        raise CalculationError("division by zero") from None
    except OverflowError:
        raise CalculationError("result is too large") from None
    except (ValueError, TypeError):
        raise CalculationError(f"invalid argument for {name}") from None


def _eval(node: ast.AST) -> Number:
    """Recursively evaluate an allow-listed AST node."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculationError(f"unsupported constant of type {type(node.value).__name__}")
        return _checked(node.value)
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        if (op := _OPERATORS.get(type(node.op))) is None:
            raise CalculationError(f"unsupported operator {type(node.op).__name__}")
        operands = (node.left, node.right) if isinstance(node, ast.BinOp) else (node.operand,)
        return _apply(op, "operator", *(_eval(operand) for operand in operands))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise CalculationError(f"function '{node.id}' must be called with arguments")
        raise CalculationError(f"unsupported name '{node.id}'")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise CalculationError("only calls to named math functions are allowed")
        if node.func.id not in _FUNCTIONS:
            raise CalculationError(f"unsupported function '{node.func.id}'")
        func, lo, hi = _FUNCTIONS[node.func.id]
        if node.keywords:
            raise CalculationError("keyword arguments are not allowed")
        if not lo <= len(node.args) <= hi:
            raise CalculationError(f"wrong number of arguments for {node.func.id}()")
        return _apply(func, f"{node.func.id}()", *(_eval(arg) for arg in node.args))
    what = _SYNTAX_NAMES.get(type(node), type(node).__name__)
    raise CalculationError(f"unsupported syntax: {what}")


def evaluate(expression: str) -> int | float:
    """Safely evaluate an arithmetic expression and return its numeric value."""
    if len(expression) > MAX_LENGTH:
        raise CalculationError(f"expression is too long (max {MAX_LENGTH} characters)")
    if not expression.strip():
        raise CalculationError("expression is empty")
    source = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    try:
        tree = ast.parse(source.replace("−", "-"), mode="eval")
        return _eval(tree.body)
    except (SyntaxError, ValueError) as exc:
        if isinstance(exc, CalculationError):
            raise
        raise CalculationError("invalid expression syntax") from None
    except (RecursionError, MemoryError):
        raise CalculationError("expression is too deeply nested") from None


def format_number(value: int | float) -> str:
    """Format ints exactly and floats with up to 12 significant digits."""
    if isinstance(value, int):
        digits, rest, chunks = 500, abs(value), []
        while rest >= 10**digits:  # chunked to stay under Python's int-to-str limit
            rest, chunk = divmod(rest, 10**digits)
            chunks.append(f"{chunk:0{digits}d}")
        return ("-" if value < 0 else "") + str(rest) + "".join(reversed(chunks))
    if not math.isfinite(value):
        raise CalculationError("result is too large")
    return f"{value + 0.0:.12g}"  # + 0.0 turns -0.0 into 0.0


def calculate(expression: str) -> str:
    """Evaluate ``expression`` and return ``"<expression> = <result>"``."""
    return f"{expression.strip()} = {format_number(evaluate(expression))}"
