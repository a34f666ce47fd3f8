//! Text in columns: each cell left-aligned and padded to its column's widest, no line ending in
//! spaces.

/// What goes before a table's first column and between two of its columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub indent: &'static str,
    pub gap: &'static str,
}

/// The header's line, then each row's: every cell padded to its column's widest (counted in
/// characters), `layout.gap` between cells, `layout.indent` in front, trailing spaces cut.
pub fn lines<S: AsRef<str>, const N: usize>(
    layout: Layout,
    header: [&str; N],
    rows: &[[S; N]],
) -> Vec<String> {
    let mut widths = header.map(|cell| cell.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.as_ref().chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let padded: Vec<String> = (cells.iter().zip(widths))
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let text = format!("{}{}", layout.indent, padded.join(layout.gap));
        text.trim_end().to_string()
    };
    let mut lines = vec![line(header)];
    lines.extend(
        rows.iter()
            .map(|row| line(row.each_ref().map(AsRef::as_ref))),
    );
    lines
}

/// `lines`, each ended by a newline.
pub fn render<S: AsRef<str>, const N: usize>(
    layout: Layout,
    header: [&str; N],
    rows: &[[S; N]],
) -> String {
    let mut text = String::new();
    for line in lines(layout, header, rows) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACED: Layout = Layout {
        indent: "",
        gap: "  ",
    };
    const INDENTED: Layout = Layout {
        indent: "  ",
        gap: " ",
    };

    #[test]
    fn columns_line_up_on_the_widest_cell_and_lines_end_without_spaces() {
        let rows = [["xyz", "1", "é"], ["q", "", ""], ["", "22", "last"]];
        assert_eq!(
            render(SPACED, ["A", "BB", "C"], &rows),
            "A    BB  C\nxyz  1   é\nq\n     22  last\n"
        );
        assert_eq!(
            lines(INDENTED, ["A", "BB", "C"], &rows),
            ["  A   BB C", "  xyz 1  é", "  q", "      22 last"]
        );
    }

    #[test]
    fn a_table_without_rows_is_its_header_and_widths_count_characters() {
        let none: [[&str; 2]; 0] = [];
        assert_eq!(
            render(SPACED, ["WORKTREE", "STATE"], &none),
            "WORKTREE  STATE\n"
        );
        let owned = [["ünï".to_string(), "x".to_string()]];
        assert_eq!(lines(SPACED, ["A", "B"], &owned), ["A    B", "ünï  x"]);
    }
}
