import requests
import pyaudio
import io
from pydub import AudioSegment

def stream_speech():
    url = "https://api.example.com/v1/audio/speech"
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer YOUR_API_KEY"
    }
    data = {
        "input": "今天天气真不错,阳光明媚,让人心情愉悦。",
        "model": "tts-1",
        "voice": "nova",
        "response_format": "mp3",
        "stream": True
    }

    # 发送请求并获取流式响应
    response = requests.post(url, json=data, headers=headers, stream=True)

    if response.status_code != 200:
        raise Exception(f"Error: {response.status_code}")

    # 初始化PyAudio
    p = pyaudio.PyAudio()
    stream = p.open(format=pyaudio.paInt16,
                    channels=1,
                    rate=24000,
                    output=True)

    # 处理音频流
    buffer = io.BytesIO()
    for chunk in response.iter_content(chunk_size=4096):
        if chunk:
            buffer.write(chunk)
            # 当积累足够的数据时,播放
            if buffer.tell() > 8192:
                buffer.seek(0)
                audio = AudioSegment.from_mp3(buffer)
                stream.write(audio.raw_data)
                buffer = io.BytesIO()

    # 播放剩余数据
    if buffer.tell() > 0:
        buffer.seek(0)
        audio = AudioSegment.from_mp3(buffer)
        stream.write(audio.raw_data)

    # 关闭流
    stream.stop_stream()
    stream.close()
    p.terminate()
