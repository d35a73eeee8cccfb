"""Success/failure conditions such as `result < 0.05 and result >= 0`: parsed, never eval'd.

Only `result`, numbers, comparisons, `and`, `or`, `not` and parentheses are allowed, so a
condition in mlops.yaml cannot run code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

_COMPARE: dict[type, Callable[[float, float], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


def compile_condition(expression: str) -> Callable[[float], bool]:
    """Return a predicate over the measured value; ValueError names what is not allowed."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"condition {expression!r} is not valid: {exc.msg}") from None
    _check(tree.body, expression)
    return lambda result: bool(_evaluate(tree.body, result))


def _check(node: ast.AST, expression: str) -> None:
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, expression)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        _check(node.operand, expression)
    elif isinstance(node, ast.Compare):
        if not all(type(op) in _COMPARE for op in node.ops):
            raise ValueError(f"condition {expression!r}: only <, <=, >, >=, ==, != compare")
        for value in (node.left, *node.comparators):
            _check(value, expression)
    elif isinstance(node, ast.Name):
        if node.id != "result":
            raise ValueError(f"condition {expression!r}: unknown name {node.id!r} (only `result`)")
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ValueError(f"condition {expression!r}: {node.value!r} is not a number")
    else:
        raise ValueError(f"condition {expression!r}: {type(node).__name__} is not allowed "
                         "(use result, numbers, comparisons, and/or/not)")


def _evaluate(node: ast.AST, result: float) -> float | bool:
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(value, result) for value in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, result)
        return (not operand) if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, result)
        for op, right_node in zip(node.ops, node.comparators):
            right = _evaluate(right_node, result)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        return result
    return node.value  # type: ignore[attr-defined]
