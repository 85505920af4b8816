curl --location -g --request POST '/v1/audio/speech' \
--header 'Authorization: ' \
--header 'Content-Type: application/json' \
--data-raw '{
    "model": "tts-1",
    "input": "The quick brown fox jumped over the lazy dog.",
    "voice": "alloy"
  }'
