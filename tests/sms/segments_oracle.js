// Reads a JSON array of strings on stdin; prints Twilio's calculator verdict for each.
const { SegmentedMessage } = require('sms-segments-calculator');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((text) => {
    const m = new SegmentedMessage(text);
    return { encoding: m.encodingName, segments: m.segmentsCount, characters: m.numberOfCharacters };
  });
  process.stdout.write(JSON.stringify(out));
});
