//! nginx's configuration syntax: directives of words ending in `;`, blocks in
//! `{ }`, `#` comments, single- or double-quoted words (with `\\` escapes), `${var}`
//! inside words; and nginx's notation for times.

use crate::engine::SimDuration;

/// One directive: its name, its arguments (quotes removed) and its block, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// 1-based line of the name.
    pub line: usize,
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// The directives of its block (none without one).
    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// The name and arguments as written, for reports: `server minio1:9000 weight=2`.
    pub fn text(&self) -> String {
        std::iter::once(self.name.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A syntax error at a 1-based line.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Semicolon,
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<(Token, usize)>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            ';' => out.push((Token::Semicolon, line)),
            '{' => out.push((Token::Open, line)),
            '}' => out.push((Token::Close, line)),
            '"' | '\'' => {
                let start = line;
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(SyntaxError {
                                line: start,
                                message: format!("this {c}quoted{c} string is never closed"),
                            })
                        }
                        Some(q) if q == c => break,
                        Some('\\') => match chars.next() {
                            Some(e) if e == c || e == '\\' => word.push(e),
                            Some(e) => {
                                line += usize::from(e == '\n');
                                word.push('\\');
                                word.push(e);
                            }
                            None => {}
                        },
                        Some(ch) => {
                            line += usize::from(ch == '\n');
                            word.push(ch);
                        }
                    }
                }
                out.push((Token::Word(word), start));
            }
            _ => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    // `${name}` is a variable inside a word, not a block.
                    let brace = n == '{' && word.ends_with('$');
                    let in_var = n == '}' && word.contains("${") && !word.ends_with('}');
                    if !(brace || in_var) && (n.is_whitespace() || matches!(n, ';' | '{' | '}')) {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push((Token::Word(word), line));
            }
        }
    }
    Ok(out)
}

/// Parses the text of an nginx configuration file into its directives.
pub fn parse(text: &str) -> Result<Vec<Directive>, SyntaxError> {
    let toks = tokens(text)?;
    let mut stack: Vec<(Directive, Vec<Directive>)> = Vec::new();
    let mut top = Vec::new();
    let mut words: Vec<(String, usize)> = Vec::new();
    let last_line = text.lines().count().max(1);
    for (tok, line) in toks {
        match tok {
            Token::Word(w) => words.push((w, line)),
            Token::Semicolon | Token::Open => {
                let Some(((name, name_line), args)) = words.split_first() else {
                    return Err(SyntaxError {
                        line,
                        message: format!(
                            "unexpected \"{}\": no directive name before it",
                            if tok == Token::Open { "{" } else { ";" }
                        ),
                    });
                };
                let d = Directive {
                    name: name.clone(),
                    args: args.iter().map(|(a, _)| a.clone()).collect(),
                    line: *name_line,
                    block: None,
                };
                words.clear();
                if tok == Token::Open {
                    stack.push((d, Vec::new()));
                } else {
                    match stack.last_mut() {
                        Some((_, children)) => children.push(d),
                        None => top.push(d),
                    }
                }
            }
            Token::Close => {
                if let Some((w, l)) = words.first() {
                    return Err(SyntaxError {
                        line: *l,
                        message: format!("directive \"{w}\" has no \";\" at its end"),
                    });
                }
                let Some((mut d, children)) = stack.pop() else {
                    return Err(SyntaxError {
                        line,
                        message: "unexpected \"}\": no block is open here".into(),
                    });
                };
                d.block = Some(children);
                match stack.last_mut() {
                    Some((_, siblings)) => siblings.push(d),
                    None => top.push(d),
                }
            }
        }
    }
    if let Some((w, l)) = words.first() {
        return Err(SyntaxError {
            line: *l,
            message: format!("directive \"{w}\" has no \";\" at its end"),
        });
    }
    if let Some((d, _)) = stack.last() {
        return Err(SyntaxError {
            line: d.line.min(last_line),
            message: format!("the block of \"{}\" is never closed with \"}}\"", d.text()),
        });
    }
    Ok(top)
}

/// A time as nginx writes it: `300` (seconds), `10s`, `500ms`, `1m30s`; units ms, s,
/// m, h, d, w.
pub fn parse_nginx_time(s: &str) -> Result<SimDuration, String> {
    if s.is_empty() {
        return Err("the time is empty".into());
    }
    let mut ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{s:?} is not a time"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{s:?} is too long a time"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            u => return Err(format!("{s:?} has unit {u:?}, which nginx does not know")),
        };
        ms = n
            .checked_mul(scale_ms)
            .and_then(|v| v.checked_add(ms))
            .ok_or_else(|| format!("{s:?} is too long a time"))?;
        rest = &rest[unit_len..];
    }
    if ms > 365 * 86_400_000 {
        return Err(format!("{s:?} is longer than a year"));
    }
    Ok(SimDuration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_times() {
        assert_eq!(parse_nginx_time("300"), Ok(SimDuration::from_secs(300)));
        assert_eq!(parse_nginx_time("1m30s"), Ok(SimDuration::from_secs(90)));
        assert_eq!(parse_nginx_time("500ms"), Ok(SimDuration::from_millis(500)));
        assert!(parse_nginx_time("10x").is_err());
        assert!(parse_nginx_time("").is_err());
        assert!(parse_nginx_time("s").is_err());
    }

    #[test]
    fn syntax_comments_quotes_blocks() {
        let conf = parse(
            "a 1; # c { ;\nb \"x y\" 'q\\'s' {\n  c ${v}z;\n}\nlog_format m '$a '\n  \"$b\";\n",
        )
        .unwrap();
        assert_eq!(conf.len(), 3);
        assert_eq!(conf[1].args, ["x y", "q's"]);
        assert_eq!(conf[1].children()[0].args, ["${v}z"]);
        assert_eq!((conf[2].line, conf[2].args.len()), (5, 3));
    }

    #[test]
    fn syntax_errors_have_lines() {
        let cases = [
            ("http {\n  a 1;\n", 1, "never closed"),
            ("a 1;\n}\n", 2, "no block is open"),
            ("a 1\n", 1, "no \";\""),
            ("http {\n  b 2\n}\n", 2, "no \";\""),
            ("a \"x;\n\n", 1, "never closed"),
            ("\n;\n", 2, "no directive name"),
        ];
        for (text, line, msg) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e:?}");
            assert!(e.message.contains(msg), "{text:?}: {e:?}");
        }
    }
}
