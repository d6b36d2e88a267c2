//! A minimal XML element tree over quick-xml, enough to walk a CycloneDX XML document.
//!
//! CycloneDX XML is small and shallow; a tree is simpler to read from than a stream of
//! events, and keeping each element's line lets errors point into the file.

use quick_xml::events::{BytesStart, Event};

use crate::decode::line_of;
use crate::{Result, SbomError};

/// Nesting deeper than this is not a CycloneDX document (its nesting is a few levels,
/// plus nested components), and refusing it bounds the recursion that reads the tree.
const MAX_DEPTH: usize = 128;

/// One element: local name (namespace prefix dropped), attributes, text and children.
#[derive(Clone, Debug, Default)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
    pub(crate) line: usize,
}

impl Element {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(crate) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of a child element, if present and non-empty.
    pub(crate) fn child_text(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

/// Parses a document into its root element.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Element> {
    let mut reader = quick_xml::Reader::from_str(text);
    let err = |pos: u64, message: String| SbomError::Xml {
        origin: origin.to_string(),
        line: line_of(text, usize::try_from(pos).unwrap_or(usize::MAX)),
        message,
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| err(reader.error_position(), e.to_string()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(pos, format!("elements nested deeper than {MAX_DEPTH}")));
                }
                stack.push(element(
                    &start,
                    line_of(text, usize::try_from(pos).unwrap_or(usize::MAX)),
                    &err,
                    pos,
                )?);
            }
            Event::Empty(start) => {
                let el = element(
                    &start,
                    line_of(text, usize::try_from(pos).unwrap_or(usize::MAX)),
                    &err,
                    pos,
                )?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(err(pos, "more than one root element".into())),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(err(pos, "closing tag without an opening one".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None if root.is_none() => root = Some(done),
                    None => return Err(err(pos, "more than one root element".into())),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| err(pos, e.to_string()))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(err(pos, "text outside the root element".into())),
                }
            }
            // `&amp;`, `&#x30;` and friends arrive apart from the text around them. Only the
            // predefined entities and character references exist without a DTD, which SBOMs
            // do not carry; anything else is an error rather than silently dropped text.
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| err(pos, e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| err(pos, e.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| err(pos, format!("unknown entity `&{name};`")))?
                            .to_owned()
                    }
                };
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&resolved),
                    None => return Err(err(pos, "text outside the root element".into())),
                }
            }
            Event::CData(c) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&String::from_utf8_lossy(&c.into_inner()));
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(err(
            u64::try_from(text.len()).unwrap_or(u64::MAX),
            "document ends inside an element".into(),
        ));
    }
    root.ok_or_else(|| err(0, "no root element".into()))
}

fn element(
    start: &BytesStart<'_>,
    line: usize,
    err: &impl Fn(u64, String) -> SbomError,
    pos: u64,
) -> Result<Element> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| err(pos, e.to_string()))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| err(pos, e.to_string()))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_tree_with_lines_and_entities() {
        let doc = "<?xml version=\"1.0\"?>\n<a:bom xmlns:a=\"u\" v=\"1\">\n <a:x>one &amp; two</a:x>\n <y k=\"&lt;\"/>\n</a:bom>\n";
        let root = parse(doc, "t.xml").unwrap();
        assert_eq!(root.name, "bom");
        assert_eq!(root.attr("xmlns:a"), Some("u"));
        assert_eq!(root.child_text("x").as_deref(), Some("one & two"));
        let y = root.child("y").unwrap();
        assert_eq!((y.attr("k"), y.line), (Some("<"), 4));

        let root = parse("<bom><x>a&#x30;&#49;&apos;b</x></bom>", "t.xml").unwrap();
        assert_eq!(root.child_text("x").as_deref(), Some("a01'b"));
        let err = parse("<bom><x>a&nope;b</x></bom>", "t.xml").unwrap_err();
        assert!(err.to_string().contains("unknown entity `&nope;`"), "{err}");
    }

    #[test]
    fn reports_malformed_with_line() {
        let err = parse("<bom>\n<a>\n</b>\n</bom>", "t.xml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("t.xml: malformed XML at line 3"), "{msg}");
        assert!(parse("<bom>", "t.xml").is_err());
        assert!(parse("<a/><b/>", "t.xml").is_err());
    }
}
