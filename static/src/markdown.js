// Markdown for the editor, with the parser's work per keystroke bounded in very long lines.
//
// Lezer's Markdown parser takes a paragraph as one block: a keystroke in it
// re-reads the whole paragraph, parses all of its inline content again, and
// looks for the start of its line one character at a time. In a paragraph of a
// megabyte on one line that is hundreds of milliseconds per keystroke.
//
// So the parser reads a line longer than LONG_LINE in pieces of a few thousand
// characters: some of its spaces read as line breaks, and a top-level
// paragraph ends at each. Positions stay the document's (one character for
// one), so the tree still highlights the text it was made from. Whether a space
// breaks depends only on the characters before it, not on its position, so an
// edit moves no break but those right after it, and the parser reuses every
// other piece. Highlighting differs only where an emphasis or a link spans a
// break. (A line with no spaces is read whole, as before.)
import { Language, LanguageSupport } from "@codemirror/language";
import { markdownLanguage } from "@codemirror/lang-markdown";
import { Parser } from "@lezer/common";

const LONG_LINE = 4000; // characters: longer lines are read in pieces
const HASHED = 32; // characters before a space that decide whether it breaks
const ONE_IN = 512; // about one space in this many breaks: pieces of ~3,000 characters
const LETTER = /\p{L}/u;

/** Whether the space at `i` in a long line's `text` reads as a line break. */
function breaksAt(text, i) {
  if (text.charCodeAt(i) !== 32 || i < HASHED || text.charCodeAt(i - 1) === 32) return false;
  // The piece after the break starts with a letter, so it can only be a paragraph.
  if (!LETTER.test(text.charAt(i + 1))) return false;
  let hash = 0x811c9dc5; // FNV-1a over the characters before the space
  for (let j = i - HASHED; j < i; j++) hash = Math.imul(hash ^ text.charCodeAt(j), 0x01000193);
  return ((hash ^ (hash >>> 16)) & (ONE_IN - 1)) === 0;
}

/** A lezer Input over the editor's document that reads long lines in pieces. */
class PiecesInput {
  constructor(doc) {
    this.doc = doc;
    this.line = null; // the last line looked up: the parser reads forward, line by line
  }

  get length() {
    return this.doc.length;
  }

  get lineChunks() {
    return true; // every chunk runs to the end of a (piece of a) line, or is a line break
  }

  lineAt(pos) {
    const line = this.line;
    if (line && pos >= line.from && pos <= line.to) return line;
    return (this.line = this.doc.lineAt(pos));
  }

  /** Whether `pos` holds a space that reads as a line break. */
  isBreak(pos) {
    const line = this.lineAt(pos);
    return line.length > LONG_LINE && pos < line.to && breaksAt(line.text, pos - line.from);
  }

  chunk(pos) {
    const line = this.lineAt(pos);
    if (pos === line.to) return pos < this.doc.length ? "\n" : "";
    const start = pos - line.from;
    if (line.length <= LONG_LINE) return line.text.slice(start);
    if (breaksAt(line.text, start)) return "\n";
    let end = line.text.indexOf(" ", start + 1);
    while (end >= 0 && !breaksAt(line.text, end)) end = line.text.indexOf(" ", end + 1);
    return line.text.slice(start, end < 0 ? line.length : end);
  }

  read(from, to) {
    const text = this.doc.sliceString(from, to);
    let result = "";
    let done = 0;
    for (let i = text.indexOf(" "); i >= 0; i = text.indexOf(" ", i + 1)) {
      if (this.isBreak(from + i)) {
        result += text.slice(done, i) + "\n";
        done = i + 1;
      }
    }
    return done ? result + text.slice(done) : text;
  }
}

/** Markdown's parser, given a PiecesInput over the editor's document. */
class PiecesParser extends Parser {
  constructor(inner) {
    super();
    this.inner = inner;
  }

  createParse(input, fragments, ranges) {
    // CodeMirror hands its parsers a DocInput, which holds the document.
    const pieces = input.doc && typeof input.doc.lineAt === "function" ? new PiecesInput(input.doc) : input;
    return this.inner.createParse(pieces, fragments, ranges);
  }
}

const parser = markdownLanguage.parser.configure({
  parseBlock: [
    {
      name: "PieceBreak",
      // A break read in a long line ends a top-level paragraph; nested ones
      // (quotes, list items) continue lazily over it, as they would over a newline.
      endLeaf: (cx) => cx.depth === 1 && cx.input instanceof PiecesInput && cx.input.isBreak(cx.lineStart - 1),
    },
  ],
});

/** GFM Markdown (without markdown()'s embedded HTML/CSS/JS parsers: a third of the bundle). */
export const markdownSupport = () =>
  new LanguageSupport(new Language(markdownLanguage.data, new PiecesParser(parser), [], "markdown"));
