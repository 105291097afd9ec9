import SpeechSynthesis
import Testing

@Suite struct PhonemizerTests {
    @Test func clausesCarryTheirPunctuation() async throws {
        let clauses = try await EspeakSynthesizer.phonemize("Hello there. Peter picked peppers, and Bob bought both!", voice: "en-us")
        #expect(clauses.map(\.terminator) == [".", ",", "!"])
        #expect(clauses.filter(\.endsSentence).count == 2)
        #expect(clauses.allSatisfy { !$0.phonemes.isEmpty })
        #expect(clauses[0].phonemes.contains("ð"))
    }
}
