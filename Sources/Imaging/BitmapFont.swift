/// A 5x7 pixel font for labels on pictures a person checks (contact sheets): digits, Latin capitals
/// (lower case is drawn as capitals) and a little punctuation. No font files, no dependencies.
package enum BitmapFont {
    package static let glyphWidth = 5, glyphHeight = 7

    /// Rows top to bottom, '#' for ink.
    private static let glyphs: [Character: [String]] = [
        "0": [" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "],
        "1": ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
        "2": [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
        "3": ["#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "],
        "4": ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
        "5": ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
        "6": ["  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "],
        "7": ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
        "8": [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
        "9": [" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "],
        "A": [" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
        "B": ["#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "],
        "C": [" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "],
        "D": ["#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "],
        "E": ["#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"],
        "F": ["#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "],
        "G": [" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"],
        "H": ["#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
        "I": [" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
        "J": ["  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "],
        "K": ["#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"],
        "L": ["#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"],
        "M": ["#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"],
        "N": ["#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"],
        "O": [" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "],
        "P": ["#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "],
        "Q": [" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"],
        "R": ["#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"],
        "S": [" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "],
        "T": ["#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "],
        "U": ["#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "],
        "V": ["#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "],
        "W": ["#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "],
        "X": ["#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"],
        "Y": ["#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "],
        "Z": ["#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"],
        ".": ["     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "],
        ",": ["     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "],
        ":": ["     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "],
        "-": ["     ", "     ", "     ", "#####", "     ", "     ", "     "],
        "_": ["     ", "     ", "     ", "     ", "     ", "     ", "#####"],
        "/": ["    #", "    #", "   # ", "  #  ", " #   ", "#    ", "#    "],
        "'": ["  #  ", "  #  ", " #   ", "     ", "     ", "     ", "     "],
        "(": ["   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "],
        ")": [" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "],
        "=": ["     ", "     ", "#####", "     ", "#####", "     ", "     "],
        "?": [" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "],
        "@": [" ### ", "#   #", "# ###", "# # #", "# ###", "#    ", " ####"],
        "+": ["     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "],
        "#": [" # # ", " # # ", "#####", " # # ", "#####", " # # ", " # # "],
    ]

    /// Whether `character` has a glyph (after upper-casing).
    package static func canDraw(_ character: Character) -> Bool {
        character == " " || glyphs[Character(character.uppercased())] != nil
    }

    /// Pixel width of `text` at `scale` (one column of space between glyphs).
    package static func width(of text: String, scale: Int = 1) -> Int {
        max(0, text.count * (glyphWidth + 1) - 1) * scale
    }

    static func rows(_ character: Character) -> [String]? {
        glyphs[Character(character.uppercased())]
    }
}

extension RGBImage {
    /// Draws `text` with its top-left corner at (x, y); characters without a glyph are drawn as '?'.
    package mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 1, color: (UInt8, UInt8, UInt8)) {
        var left = x
        for character in text {
            if character != " ", let rows = BitmapFont.rows(character) ?? BitmapFont.rows("?") {
                for (row, line) in rows.enumerated() {
                    for (column, ink) in line.enumerated() where ink == "#" {
                        for dy in 0..<scale {
                            for dx in 0..<scale {
                                setPixel(x: left + column * scale + dx, y: y + row * scale + dy, color)
                            }
                        }
                    }
                }
            }
            left += (BitmapFont.glyphWidth + 1) * scale
        }
    }

    /// Fills a rectangle (clipped to the image).
    package mutating func fill(_ rect: PixelRect, color: (UInt8, UInt8, UInt8)) {
        let visible = rect.clamped(width: width, height: height)
        for y in visible.y..<visible.maxY {
            for x in visible.x..<visible.maxX { setPixel(x: x, y: y, color) }
        }
    }
}
