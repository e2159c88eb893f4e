//! The part of PromQL the shipped alert rules are written in, evaluated at one instant over
//! the served families: what lets the overview page show the problems those rules would fire on
//! from the rules' own expressions, not a second definition of each.
//!
//! Supported: number literals, `time()`, selectors with `=` and `!=` matchers, the
//! arithmetic and comparison operators (comparisons filter, or give 0/1 with `bool`), `on`,
//! `ignoring`, `group_left` and `group_right`, the aggregations `sum`, `max`, `min`, `avg`
//! and `count` with `by` or `without`, and the functions `clamp_min`, `clamp_max`, `abs`,
//! `histogram_quantile`, and `rate` and `increase` over a range selector, whose increases the
//! [`Source`] supplies (the daemon computes them from stored facts; see
//! [`crate::derive::page`]). Semantics follow Prometheus's engine: the result labels of
//! one-to-one matching, `group_left`'s copied labels, many-to-many matching refused, the
//! histogram quantile's linear interpolation within a bucket. Anything else is a parse error,
//! so a rule that grows a construct this does not know fails the test that evaluates every
//! shipped rule, rather than being evaluated wrongly.

use std::collections::BTreeMap;

/// A sample's labels, `__name__` included while it has one.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

/// What an expression reads.
pub trait Source {
    /// Every sample of the series named `name` (a histogram's `_bucket`, `_sum` or `_count`
    /// included in the name).
    fn series(&self, name: &str) -> Vec<Sample>;
    /// The increase of the counter series `name` over the `window` seconds before now, per
    /// label set; `None` when the source cannot tell.
    fn increase(&self, name: &str, window: i64) -> Option<Vec<Sample>>;
    /// The evaluation time, in seconds since the epoch.
    fn now(&self) -> f64;
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
}

#[derive(Debug, Clone)]
struct Matcher {
    label: String,
    /// `=` when true, else `!=`.
    equal: bool,
    value: String,
}

impl Matcher {
    fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.label).map_or("", |s| s.as_str());
        (v == self.value) == self.equal
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    fn comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Lt | Op::Gt | Op::Le | Op::Ge)
    }

    fn precedence(self) -> u8 {
        match self {
            Op::Eq | Op::Ne | Op::Lt | Op::Gt | Op::Le | Op::Ge => 1,
            Op::Add | Op::Sub => 2,
            Op::Mul | Op::Div | Op::Mod => 3,
            Op::Pow => 4,
        }
    }

    fn apply(self, a: f64, b: f64) -> f64 {
        let t = |c: bool| c as u8 as f64;
        match self {
            Op::Add => a + b,
            Op::Sub => a - b,
            Op::Mul => a * b,
            Op::Div => a / b,
            Op::Mod => a % b,
            Op::Pow => a.powf(b),
            Op::Eq => t(a == b),
            Op::Ne => t(a != b),
            Op::Lt => t(a < b),
            Op::Gt => t(a > b),
            Op::Le => t(a <= b),
            Op::Ge => t(a >= b),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Left,
    Right,
}

#[derive(Debug, Clone, Default)]
struct Matching {
    /// `on (…)` when true, else `ignoring (…)` (or neither, with no labels).
    on: bool,
    labels: Vec<String>,
    group: Option<(Group, Vec<String>)>,
}

#[derive(Debug, Clone)]
enum Expr {
    Number(f64),
    Selector {
        name: String,
        matchers: Vec<Matcher>,
        /// Seconds, for a range selector.
        range: Option<i64>,
    },
    Call(String, Vec<Expr>),
    Aggregate {
        op: String,
        without: bool,
        labels: Vec<String>,
        expr: Box<Expr>,
    },
    Binary {
        op: Op,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        matching: Matching,
        bool_modifier: bool,
    },
    Negate(Box<Expr>),
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Query {
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number(f64),
    Duration(i64),
    Str(String),
    Punct(&'static str),
}

fn duration_seconds(s: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut digits = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                return None; // milliseconds: not in whole seconds
            }
            ('s', _) => 1,
            ('m', _) => 60,
            ('h', _) => 3600,
            ('d', _) => 86_400,
            ('w', _) => 7 * 86_400,
            ('y', _) => 365 * 86_400,
            _ => return None,
        };
        total += digits.parse::<i64>().ok()? * unit;
        digits.clear();
        any = true;
    }
    (any && digits.is_empty()).then_some(total)
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    const PUNCT: [&str; 22] = [
        "==", "!=", "<=", ">=", "=~", "!~", "(", ")", "{", "}", "[", "]", ",", "=", "<", ">", "+",
        "-", "*", "/", "%", "^",
    ];
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // Inside `[…]` a number with a unit is a duration.
    let mut in_range = false;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < bytes.len()
                && ((bytes[i] as char).is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b':')
            {
                i += 1;
            }
            out.push(Token::Ident(text[start..i].to_string()));
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < bytes.len()
                && ((bytes[i] as char).is_ascii_alphanumeric() || bytes[i] == b'.')
            {
                // An exponent's sign belongs to the number.
                if (bytes[i] == b'e' || bytes[i] == b'E')
                    && i + 1 < bytes.len()
                    && (bytes[i + 1] == b'+' || bytes[i + 1] == b'-')
                    && !in_range
                {
                    i += 2;
                    continue;
                }
                i += 1;
            }
            let word = &text[start..i];
            if in_range {
                let d = duration_seconds(word).ok_or(format!("bad duration `{word}`"))?;
                out.push(Token::Duration(d));
            } else {
                let n: f64 = word.parse().map_err(|_| format!("bad number `{word}`"))?;
                out.push(Token::Number(n));
            }
            continue;
        }
        if c == '"' || c == '\'' {
            let quote = bytes[i];
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&b) = bytes.get(i) else {
                    return Err("unterminated string".into());
                };
                if b == quote {
                    i += 1;
                    break;
                }
                if b == b'\\' {
                    let next = *bytes.get(i + 1).ok_or("unterminated string")?;
                    s.push(match next {
                        b'n' => '\n',
                        b't' => '\t',
                        other => other as char,
                    });
                    i += 2;
                    continue;
                }
                // A multi-byte character: copy it whole.
                let ch = text[i..].chars().next().ok_or("bad string")?;
                s.push(ch);
                i += ch.len_utf8();
            }
            out.push(Token::Str(s));
            continue;
        }
        let Some(p) = PUNCT.iter().find(|p| text[i..].starts_with(**p)) else {
            return Err(format!("unexpected character `{c}`"));
        };
        match *p {
            "[" => in_range = true,
            "]" => in_range = false,
            _ => {}
        }
        out.push(Token::Punct(p));
        i += p.len();
    }
    Ok(out)
}

const AGGREGATIONS: [&str; 5] = ["sum", "max", "min", "avg", "count"];
const FUNCTIONS: [&str; 7] = [
    "time",
    "clamp_min",
    "clamp_max",
    "abs",
    "histogram_quantile",
    "rate",
    "increase",
];

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token::Punct(q)) if *q == p)
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w == word)
    }

    fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.is(p) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected `{p}`, found {:?}", self.peek()))
        }
    }

    fn label_list(&mut self) -> Result<Vec<String>, String> {
        self.expect("(")?;
        let mut out = Vec::new();
        while !self.is(")") {
            match self.next() {
                Some(Token::Ident(l)) => out.push(l),
                other => return Err(format!("expected a label name, found {other:?}")),
            }
            if !self.is(")") {
                self.expect(",")?;
            }
        }
        self.expect(")")?;
        Ok(out)
    }

    fn binary_op(&self) -> Option<Op> {
        let Some(Token::Punct(p)) = self.peek() else {
            return None;
        };
        Some(match *p {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            ">" => Op::Gt,
            "<=" => Op::Le,
            ">=" => Op::Ge,
            _ => return None,
        })
    }

    /// Precedence climbing; every operator but `^` is left-associative.
    fn expr(&mut self, min: u8) -> Result<Expr, String> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.binary_op() {
            if op.precedence() < min {
                break;
            }
            self.at += 1;
            let mut bool_modifier = false;
            if self.is_ident("bool") {
                if !op.comparison() {
                    return Err("`bool` after a non-comparison operator".into());
                }
                bool_modifier = true;
                self.at += 1;
            }
            let mut matching = Matching::default();
            if self.is_ident("on") || self.is_ident("ignoring") {
                matching.on = self.is_ident("on");
                self.at += 1;
                matching.labels = self.label_list()?;
            }
            if self.is_ident("group_left") || self.is_ident("group_right") {
                let side = if self.is_ident("group_left") {
                    Group::Left
                } else {
                    Group::Right
                };
                self.at += 1;
                let include = if self.is("(") {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                matching.group = Some((side, include));
            }
            let next_min = if op == Op::Pow {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs = self.expr(next_min)?;
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                matching,
                bool_modifier,
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.is("-") {
            self.at += 1;
            return Ok(Expr::Negate(Box::new(self.unary()?)));
        }
        if self.is("+") {
            self.at += 1;
            return self.unary();
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Punct("(")) => {
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Token::Punct("{")) => {
                self.at -= 1;
                self.selector(String::new())
            }
            Some(Token::Ident(word)) => {
                if AGGREGATIONS.contains(&word.as_str())
                    && (self.is("(") || self.is_ident("by") || self.is_ident("without"))
                {
                    return self.aggregate(word);
                }
                if self.is("(") {
                    if !FUNCTIONS.contains(&word.as_str()) {
                        return Err(format!("unsupported function `{word}`"));
                    }
                    self.at += 1;
                    let mut args = Vec::new();
                    while !self.is(")") {
                        args.push(self.expr(0)?);
                        if !self.is(")") {
                            self.expect(",")?;
                        }
                    }
                    self.expect(")")?;
                    return Ok(Expr::Call(word, args));
                }
                self.selector(word)
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    fn aggregate(&mut self, op: String) -> Result<Expr, String> {
        let mut grouping: Option<(bool, Vec<String>)> = None;
        if self.is_ident("by") || self.is_ident("without") {
            let without = self.is_ident("without");
            self.at += 1;
            grouping = Some((without, self.label_list()?));
        }
        self.expect("(")?;
        let expr = self.expr(0)?;
        self.expect(")")?;
        if grouping.is_none() && (self.is_ident("by") || self.is_ident("without")) {
            let without = self.is_ident("without");
            self.at += 1;
            grouping = Some((without, self.label_list()?));
        }
        let (without, labels) = grouping.unwrap_or((false, Vec::new()));
        Ok(Expr::Aggregate {
            op,
            without,
            labels,
            expr: Box::new(expr),
        })
    }

    fn selector(&mut self, name: String) -> Result<Expr, String> {
        let mut matchers = Vec::new();
        if self.is("{") {
            self.at += 1;
            while !self.is("}") {
                let Some(Token::Ident(label)) = self.next() else {
                    return Err("expected a label name in a selector".into());
                };
                let equal = match self.next() {
                    Some(Token::Punct("=")) => true,
                    Some(Token::Punct("!=")) => false,
                    other => return Err(format!("unsupported matcher {other:?}")),
                };
                let Some(Token::Str(value)) = self.next() else {
                    return Err("expected a string in a matcher".into());
                };
                matchers.push(Matcher {
                    label,
                    equal,
                    value,
                });
                if !self.is("}") {
                    self.expect(",")?;
                }
            }
            self.expect("}")?;
        }
        if name.is_empty() {
            return Err("a selector without a metric name".into());
        }
        let mut range = None;
        if self.is("[") {
            self.at += 1;
            let Some(Token::Duration(d)) = self.next() else {
                return Err("expected a duration in a range selector".into());
            };
            self.expect("]")?;
            range = Some(d);
        }
        Ok(Expr::Selector {
            name,
            matchers,
            range,
        })
    }
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, String> {
        let mut p = Parser {
            tokens: tokenize(text)?,
            at: 0,
        };
        let expr = p.expr(0)?;
        if p.at < p.tokens.len() {
            return Err(format!(
                "unexpected {:?} after the expression",
                p.tokens[p.at]
            ));
        }
        Ok(Query { expr })
    }

    /// Every (metric, window) that the expression takes a `rate` or `increase` of.
    pub fn ranges(&self) -> Vec<(String, i64)> {
        fn walk(e: &Expr, out: &mut Vec<(String, i64)>) {
            match e {
                Expr::Selector {
                    name,
                    range: Some(r),
                    ..
                } => out.push((name.clone(), *r)),
                Expr::Selector { .. } | Expr::Number(_) => {}
                Expr::Call(_, args) => args.iter().for_each(|a| walk(a, out)),
                Expr::Aggregate { expr, .. } | Expr::Negate(expr) => walk(expr, out),
                Expr::Binary { lhs, rhs, .. } => {
                    walk(lhs, out);
                    walk(rhs, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.expr, &mut out);
        out
    }

    /// The expression's value now; a vector's samples lose `__name__`.
    pub fn eval(&self, source: &dyn Source) -> Result<Value, String> {
        Ok(match eval(&self.expr, source)? {
            Value::Vector(mut v) => {
                for s in &mut v {
                    s.labels.remove("__name__");
                }
                Value::Vector(v)
            }
            scalar => scalar,
        })
    }
}

fn vector(v: Value, what: &str) -> Result<Vec<Sample>, String> {
    match v {
        Value::Vector(v) => Ok(v),
        Value::Scalar(_) => Err(format!("{what} needs an instant vector")),
    }
}

fn scalar(v: Value, what: &str) -> Result<f64, String> {
    match v {
        Value::Scalar(s) => Ok(s),
        Value::Vector(_) => Err(format!("{what} needs a scalar")),
    }
}

fn eval(e: &Expr, src: &dyn Source) -> Result<Value, String> {
    match e {
        Expr::Number(n) => Ok(Value::Scalar(*n)),
        Expr::Negate(inner) => Ok(match eval(inner, src)? {
            Value::Scalar(s) => Value::Scalar(-s),
            Value::Vector(v) => Value::Vector(
                v.into_iter()
                    .map(|mut s| {
                        s.labels.remove("__name__");
                        s.value = -s.value;
                        s
                    })
                    .collect(),
            ),
        }),
        Expr::Selector {
            name,
            matchers,
            range: None,
        } => Ok(Value::Vector(
            src.series(name)
                .into_iter()
                .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
                .map(|mut s| {
                    s.labels.insert("__name__".into(), name.clone());
                    s
                })
                .collect(),
        )),
        Expr::Selector { range: Some(_), .. } => {
            Err("a range selector outside rate() or increase()".into())
        }
        Expr::Call(f, args) => call(f, args, src),
        Expr::Aggregate {
            op,
            without,
            labels,
            expr,
        } => {
            let v = vector(eval(expr, src)?, op)?;
            let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
            for s in v {
                let key: Labels = s
                    .labels
                    .into_iter()
                    .filter(|(k, _)| k != "__name__" && (labels.contains(k) != *without))
                    .collect();
                groups.entry(key).or_default().push(s.value);
            }
            Ok(Value::Vector(
                groups
                    .into_iter()
                    .map(|(labels, values)| {
                        let n = values.len() as f64;
                        let value = match op.as_str() {
                            "sum" => values.iter().sum(),
                            "avg" => values.iter().sum::<f64>() / n,
                            "count" => n,
                            // As Prometheus: NaN only when every value is NaN.
                            "max" => values.iter().copied().fold(f64::NAN, |a, b| {
                                if a.is_nan() || b > a {
                                    b
                                } else {
                                    a
                                }
                            }),
                            _ => values.iter().copied().fold(f64::NAN, |a, b| {
                                if a.is_nan() || b < a {
                                    b
                                } else {
                                    a
                                }
                            }),
                        };
                        Sample { labels, value }
                    })
                    .collect(),
            ))
        }
        Expr::Binary {
            op,
            lhs,
            rhs,
            matching,
            bool_modifier,
        } => binary(
            *op,
            eval(lhs, src)?,
            eval(rhs, src)?,
            matching,
            *bool_modifier,
        ),
    }
}

fn call(f: &str, args: &[Expr], src: &dyn Source) -> Result<Value, String> {
    let arity = match f {
        "time" => 0,
        "abs" | "rate" | "increase" => 1,
        _ => 2,
    };
    if args.len() != arity {
        return Err(format!("{f}() takes {arity} argument(s)"));
    }
    let map = |v: Vec<Sample>, g: &dyn Fn(f64) -> f64| {
        Value::Vector(
            v.into_iter()
                .map(|mut s| {
                    s.labels.remove("__name__");
                    s.value = g(s.value);
                    s
                })
                .collect(),
        )
    };
    match f {
        "time" => Ok(Value::Scalar(src.now())),
        "abs" => Ok(map(vector(eval(&args[0], src)?, f)?, &f64::abs)),
        "clamp_min" | "clamp_max" => {
            let v = vector(eval(&args[0], src)?, f)?;
            let bound = scalar(eval(&args[1], src)?, f)?;
            Ok(if f == "clamp_min" {
                map(v, &|x| x.max(bound))
            } else {
                map(v, &|x| x.min(bound))
            })
        }
        "rate" | "increase" => {
            let Expr::Selector {
                name,
                matchers,
                range: Some(window),
            } = &args[0]
            else {
                return Err(format!("{f}() needs a range selector"));
            };
            let increases = src
                .increase(name, *window)
                .ok_or(format!("no increases of {name} over {window} s"))?;
            let per = if f == "rate" { *window as f64 } else { 1.0 };
            Ok(Value::Vector(
                increases
                    .into_iter()
                    .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
                    .map(|mut s| {
                        s.labels.remove("__name__");
                        s.value /= per;
                        s
                    })
                    .collect(),
            ))
        }
        "histogram_quantile" => {
            let q = scalar(eval(&args[0], src)?, f)?;
            let v = vector(eval(&args[1], src)?, f)?;
            let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for s in v {
                let Some(le) = s.labels.get("le").and_then(|le| parse_le(le)) else {
                    continue;
                };
                let key: Labels = s
                    .labels
                    .into_iter()
                    .filter(|(k, _)| k != "le" && k != "__name__")
                    .collect();
                groups.entry(key).or_default().push((le, s.value));
            }
            Ok(Value::Vector(
                groups
                    .into_iter()
                    .map(|(labels, buckets)| Sample {
                        labels,
                        value: bucket_quantile(q, buckets),
                    })
                    .collect(),
            ))
        }
        _ => Err(format!("unsupported function `{f}`")),
    }
}

fn parse_le(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        _ => le.parse().ok(),
    }
}

/// Prometheus's `histogram_quantile` over classic buckets (upper bound, cumulative count).
pub fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Same bounds merged; counts made monotonic, as the engine does for float error.
    buckets.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
    let mut max = f64::NEG_INFINITY;
    for b in buckets.iter_mut() {
        if b.1 < max {
            b.1 = max;
        }
        max = b.1;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets
        .iter()
        .position(|b| b.1 >= rank)
        .unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// The labels that match a sample with its partner.
fn signature(labels: &Labels, m: &Matching) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| *k != "__name__" && (m.labels.contains(k) == m.on))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn binary(
    op: Op,
    lhs: Value,
    rhs: Value,
    m: &Matching,
    bool_modifier: bool,
) -> Result<Value, String> {
    let drop_name = !op.comparison() || bool_modifier;
    let result = |mut labels: Labels, a: f64, b: f64, keep: f64| -> Option<Sample> {
        let v = op.apply(a, b);
        if drop_name {
            labels.remove("__name__");
        }
        if op.comparison() && !bool_modifier {
            (v == 1.0).then_some(Sample {
                labels,
                value: keep,
            })
        } else {
            Some(Sample { labels, value: v })
        }
    };
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            if op.comparison() && !bool_modifier {
                return Err("a comparison of two scalars needs `bool`".into());
            }
            Ok(Value::Scalar(op.apply(a, b)))
        }
        (Value::Vector(v), Value::Scalar(b)) => Ok(Value::Vector(
            v.into_iter()
                .filter_map(|s| result(s.labels, s.value, b, s.value))
                .collect(),
        )),
        (Value::Scalar(a), Value::Vector(v)) => Ok(Value::Vector(
            v.into_iter()
                .filter_map(|s| result(s.labels, a, s.value, s.value))
                .collect(),
        )),
        (Value::Vector(l), Value::Vector(r)) => {
            // group_right is group_left with the sides swapped.
            let (many, one, swapped) = match &m.group {
                Some((Group::Right, _)) => (r, l, true),
                _ => (l, r, false),
            };
            let mut ones: BTreeMap<Labels, &Sample> = BTreeMap::new();
            for s in &one {
                if ones.insert(signature(&s.labels, m), s).is_some() {
                    return Err("many-to-many matching: duplicate series on one side".into());
                }
            }
            let mut seen: BTreeMap<Labels, ()> = BTreeMap::new();
            let mut out = Vec::new();
            for s in many {
                let sig = signature(&s.labels, m);
                let Some(partner) = ones.get(&sig) else {
                    continue;
                };
                let mut labels = s.labels.clone();
                match &m.group {
                    None => {
                        if seen.insert(sig, ()).is_some() {
                            return Err(
                                "many-to-one matching needs group_left or group_right".into()
                            );
                        }
                        if m.on {
                            labels.retain(|k, _| k == "__name__" || m.labels.contains(k));
                        } else {
                            labels.retain(|k, _| !m.labels.contains(k));
                        }
                    }
                    Some((_, include)) => {
                        for l in include {
                            match partner.labels.get(l) {
                                Some(v) if !v.is_empty() => {
                                    labels.insert(l.clone(), v.clone());
                                }
                                _ => {
                                    labels.remove(l);
                                }
                            }
                        }
                    }
                }
                let (a, b) = if swapped {
                    (partner.value, s.value)
                } else {
                    (s.value, partner.value)
                };
                // A filtering comparison keeps the left side's value.
                if let Some(sample) = result(labels, a, b, a) {
                    out.push(sample);
                }
            }
            Ok(Value::Vector(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (&'static str, Vec<(&'static str, &'static str)>, f64);

    struct Fixed(Vec<Row>);

    impl Source for Fixed {
        fn series(&self, name: &str) -> Vec<Sample> {
            self.0
                .iter()
                .filter(|(n, _, _)| *n == name)
                .map(|(_, l, v)| Sample {
                    labels: l
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    value: *v,
                })
                .collect()
        }
        fn increase(&self, name: &str, window: i64) -> Option<Vec<Sample>> {
            (window == 600).then(|| self.series(name))
        }
        fn now(&self) -> f64 {
            1000.0
        }
    }

    fn values(q: &str, src: &Fixed) -> Vec<(Vec<(String, String)>, f64)> {
        match Query::parse(q).unwrap().eval(src).unwrap() {
            Value::Vector(v) => v
                .into_iter()
                .map(|s| (s.labels.into_iter().collect(), s.value))
                .collect(),
            Value::Scalar(s) => vec![(vec![], s)],
        }
    }

    fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn joins_copy_the_owner_and_filter_by_comparison() {
        let src = Fixed(vec![
            ("owned", vec![("asset", "a"), ("instance", "x")], 0.0),
            ("owned", vec![("asset", "b"), ("instance", "x")], 1.0),
            (
                "info",
                vec![
                    ("asset", "a"),
                    ("owner", "team"),
                    ("lifecycle", "production"),
                ],
                1.0,
            ),
            (
                "info",
                vec![("asset", "b"), ("owner", ""), ("lifecycle", "production")],
                1.0,
            ),
        ]);
        let got = values(
            "(owned == 0) * on (asset) group_left (owner, lifecycle) max by (asset, owner, lifecycle) (info{lifecycle=\"production\"})",
            &src,
        );
        assert_eq!(
            got,
            vec![(
                l(&[
                    ("asset", "a"),
                    ("instance", "x"),
                    ("owner", "team"),
                    ("lifecycle", "production")
                ]),
                0.0
            )]
        );
    }

    #[test]
    fn ignoring_drops_the_label_and_precedence_binds_minus_first() {
        let src = Fixed(vec![
            ("ratio", vec![("asset", "a"), ("window", "1d")], 0.5),
            ("ratio", vec![("asset", "b"), ("window", "1d")], 0.95),
            ("base", vec![("asset", "a")], 0.9),
            ("base", vec![("asset", "b")], 1.0),
        ]);
        // 0.5 < 0.8 holds; 0.95 < 0.9 does not.
        let got = values(
            "ratio{window=\"1d\"} < ignoring (window) (base - 0.1)",
            &src,
        );
        assert_eq!(got, vec![(l(&[("asset", "a")]), 0.5)]);
        assert_eq!(values("time() - 400 > bool 500", &src), vec![(vec![], 1.0)]);
        assert_eq!(values("2 * 3 + 4 ^ 2 / 8", &src), vec![(vec![], 8.0)]);
    }

    #[test]
    fn one_to_one_with_on_keeps_only_the_on_labels_and_many_to_many_is_refused() {
        let src = Fixed(vec![
            ("p", vec![("asset", "a"), ("target", "t"), ("x", "1")], 2.0),
            ("t", vec![("asset", "a"), ("target", "t"), ("y", "2")], 1.0),
            ("d", vec![("asset", "a"), ("k", "1")], 1.0),
            ("d", vec![("asset", "a"), ("k", "2")], 1.0),
        ]);
        assert_eq!(
            values("p > on (asset, target) t", &src),
            vec![(l(&[("asset", "a"), ("target", "t")]), 2.0)]
        );
        let q = Query::parse("p * on (asset) d").unwrap();
        assert!(q.eval(&src).is_err());
    }

    #[test]
    fn histogram_quantile_interpolates_as_prometheus_does() {
        // 10 observations: 5 ≤ 0.1, 9 ≤ 0.5, 10 ≤ +Inf.
        let b = vec![(0.1, 5.0), (0.5, 9.0), (f64::INFINITY, 10.0)];
        // rank 4.75 in the first bucket: 0 + 0.1 × 4.75/5.
        assert!((bucket_quantile(0.475, b.clone()) - 0.095).abs() < 1e-12);
        // rank 9.5 in +Inf: the highest finite bound.
        assert_eq!(bucket_quantile(0.95, b.clone()), 0.5);
        // rank 7 in the second bucket: 0.1 + 0.4 × 2/4.
        assert!((bucket_quantile(0.7, b) - 0.3).abs() < 1e-12);
        assert!(bucket_quantile(0.5, vec![(1.0, 0.0), (f64::INFINITY, 0.0)]).is_nan());
        let src = Fixed(vec![
            ("h_bucket", vec![("asset", "a"), ("le", "0.1")], 5.0),
            ("h_bucket", vec![("asset", "a"), ("le", "0.5")], 9.0),
            ("h_bucket", vec![("asset", "a"), ("le", "+Inf")], 10.0),
        ]);
        let got = values(
            "histogram_quantile(0.7, sum by (le, asset) (rate(h_bucket[10m])))",
            &src,
        );
        assert_eq!(got.len(), 1);
        assert!((got[0].1 - 0.3).abs() < 1e-12);
        assert!(Query::parse("rate(h_bucket[30m])")
            .unwrap()
            .eval(&src)
            .is_err());
    }

    #[test]
    fn unsupported_constructs_are_parse_errors() {
        for q in [
            "foo offset 5m",
            "a{b=~\"c\"}",
            "label_replace(a, \"b\", \"c\", \"d\", \"e\")",
            "a and b",
            "{a=\"b\"}",
        ] {
            assert!(Query::parse(q).is_err(), "{q}");
        }
        assert_eq!(duration_seconds("1h30m"), Some(5400));
        assert_eq!(duration_seconds("10"), None);
    }
}
