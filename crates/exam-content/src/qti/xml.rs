//! A small, bounded XML tree for QTI files. Element and attribute names are normalised so that one
//! reader handles QTI 2.1 (`choiceInteraction`, `maxChoices`) and QTI 3.0 (`qti-choice-interaction`,
//! `max-choices`): namespace prefixes are dropped, a `qti-` prefix is removed and kebab-case becomes
//! camelCase. Text keeps its characters; entity and character references are resolved.
//!
//! Never panics on input: depth, node count and size are bounded ([`XML_DEPTH_MAX`],
//! [`XML_NODES_MAX`]) and every fault is an [`XmlError`].

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Deepest element nesting accepted in one file.
pub const XML_DEPTH_MAX: usize = 64;
/// Most elements and text nodes in one file.
pub const XML_NODES_MAX: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error(
        "the XML is not well-formed ({0}); fix the file in the authoring tool and export it again"
    )]
    Malformed(String),
    #[error("the XML nests elements deeper than {XML_DEPTH_MAX} levels")]
    TooDeep,
    #[error("the XML has more than {XML_NODES_MAX} elements and texts")]
    TooManyNodes,
    #[error("the XML has no root element")]
    NoRoot,
    #[error(
        "the file is declared as {0}, which is not supported (UTF-8, ISO-8859-1 and US-ASCII are)"
    )]
    Encoding(String),
    #[error("the file is not valid UTF-8 text; save it as UTF-8")]
    NotUtf8,
    #[error("unknown entity &{0}; in the XML")]
    Entity(String),
}

/// One element with normalised names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// The namespace URI as written in an `xmlns` attribute on this element (root only matters).
    pub namespace: Option<String>,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Child elements in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    /// Every descendant element, depth first (the element itself excluded).
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.elements().collect();
        stack.reverse();
        while let Some(e) = stack.pop() {
            out.push(e);
            let mut kids: Vec<&Element> = e.elements().collect();
            kids.reverse();
            stack.extend(kids);
        }
        out
    }

    /// All text below this element, concatenated as written.
    pub fn text(&self) -> String {
        let mut s = String::new();
        fn walk(e: &Element, s: &mut String) {
            for n in &e.children {
                match n {
                    Node::Text(t) => s.push_str(t),
                    Node::Element(c) => walk(c, s),
                }
            }
        }
        walk(self, &mut s);
        s
    }
}

/// `qti-choice-interaction` → `choiceInteraction`; `cp:manifest` → `manifest`; `xml:lang` → `lang`.
pub fn normalise_name(raw: &str) -> String {
    let local = raw.rsplit(':').next().unwrap_or(raw);
    let local = local.strip_prefix("qti-").unwrap_or(local);
    let mut out = String::with_capacity(local.len());
    let mut upper = false;
    for c in local.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns file bytes into text, honouring the declared encoding (UTF-8, ISO-8859-1, US-ASCII).
pub fn decode(bytes: &[u8]) -> Result<String, XmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let declared = declared_encoding(bytes).map(|e| e.to_ascii_lowercase());
    match declared.as_deref() {
        None | Some("utf-8" | "utf8") => std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| XmlError::NotUtf8),
        Some("iso-8859-1" | "latin1" | "latin-1" | "iso8859-1" | "us-ascii" | "ascii") => {
            // Latin-1 maps each byte to the code point of the same value.
            Ok(bytes.iter().map(|&b| char::from(b)).collect())
        }
        Some(other) => Err(XmlError::Encoding(other.to_owned())),
    }
}

fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = bytes.get(..bytes.len().min(200))?;
    let head = String::from_utf8_lossy(head);
    let decl = head.strip_prefix("<?xml")?;
    let end = decl.find("?>")?;
    let decl = decl.get(..end)?;
    let at = decl.find("encoding")?;
    let rest = decl
        .get(at + "encoding".len()..)?
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let rest = rest.get(1..)?;
    let close = rest.find(quote)?;
    rest.get(..close).map(str::to_owned)
}

fn start_element(e: &BytesStart<'_>) -> Result<Element, XmlError> {
    let raw_name = e.name().0.to_owned();
    let mut attrs = Vec::new();
    let mut namespace = None;
    for a in e.attributes() {
        let a = a.map_err(|err| XmlError::Malformed(err.to_string()))?;
        let key = a.key.0.to_owned();
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| XmlError::Malformed(err.to_string()))?
            .into_owned();
        if key == "xmlns" {
            namespace = Some(value);
            continue;
        }
        if key.starts_with("xmlns:") {
            continue;
        }
        attrs.push((normalise_name(&key), value));
    }
    Ok(Element {
        name: normalise_name(&raw_name),
        namespace,
        attrs,
        children: Vec::new(),
    })
}

fn resolve_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        // Common in hand-written XHTML; not defined in XML without a DTD, but harmless to accept.
        "nbsp" => "\u{a0}",
        _ => return None,
    })
}

/// Parses a whole document into its root element.
pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let text = decode(bytes)?;
    let mut reader = Reader::from_str(&text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    let push_node = |stack: &mut Vec<Element>, node: Node| {
        if let Some(top) = stack.last_mut() {
            // Adjacent texts (text, entity, text) are merged into one node.
            if let (Node::Text(t), Some(Node::Text(prev))) = (&node, top.children.last_mut()) {
                prev.push_str(t);
                return;
            }
            top.children.push(node);
        }
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::Start(e) => {
                nodes += 1;
                if nodes > XML_NODES_MAX {
                    return Err(XmlError::TooManyNodes);
                }
                if stack.len() >= XML_DEPTH_MAX {
                    return Err(XmlError::TooDeep);
                }
                if root.is_some() && stack.is_empty() {
                    return Err(XmlError::Malformed("more than one root element".into()));
                }
                stack.push(start_element(&e)?);
            }
            Event::Empty(e) => {
                nodes += 1;
                if nodes > XML_NODES_MAX {
                    return Err(XmlError::TooManyNodes);
                }
                let el = start_element(&e)?;
                if stack.is_empty() {
                    if root.is_some() {
                        return Err(XmlError::Malformed("more than one root element".into()));
                    }
                    root = Some(el);
                } else {
                    push_node(&mut stack, Node::Element(el));
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(XmlError::Malformed(
                        "a closing tag without an opening tag".into(),
                    ));
                };
                if stack.is_empty() {
                    root = Some(done);
                } else {
                    push_node(&mut stack, Node::Element(done));
                }
            }
            Event::Text(t) => {
                if !stack.is_empty() {
                    nodes += 1;
                    if nodes > XML_NODES_MAX {
                        return Err(XmlError::TooManyNodes);
                    }
                    push_node(&mut stack, Node::Text(t.xml10_content().into_owned()));
                }
            }
            Event::CData(t) => {
                if !stack.is_empty() {
                    push_node(&mut stack, Node::Text(t.xml10_content().into_owned()));
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.xml10_content();
                        match resolve_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => return Err(XmlError::Entity(name.into_owned())),
                        }
                    }
                    Err(e) => return Err(XmlError::Malformed(e.to_string())),
                };
                if !stack.is_empty() {
                    push_node(&mut stack, Node::Text(resolved));
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed(
            "the file ends inside an element (truncated?)".into(),
        ));
    }
    root.ok_or(XmlError::NoRoot)
}

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            normalise_name("qti-choice-interaction"),
            "choiceInteraction"
        );
        assert_eq!(normalise_name("max-choices"), "maxChoices");
        assert_eq!(normalise_name("cp:manifest"), "manifest");
        assert_eq!(normalise_name("choiceInteraction"), "choiceInteraction");
        assert_eq!(normalise_name("xml:lang"), "lang");
    }

    #[test]
    fn entities_and_latin1() {
        let root = parse(b"<a x='1 &amp; 2'>&lt;b&gt; &#x4e2d;</a>").expect("parses");
        assert_eq!(root.text(), "<b> \u{4e2d}");
        assert_eq!(root.attr("x"), Some("1 & 2"));
        let latin = parse(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xe9</a>")
            .expect("latin-1");
        assert_eq!(latin.text(), "caf\u{e9}");
    }

    #[test]
    fn faults_are_errors() {
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"<a>&bogus;</a>").is_err());
        assert!(parse(b"\xff\xfe<a/>").is_err());
        let deep = "<a>".repeat(XML_DEPTH_MAX + 1);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
    }
}
