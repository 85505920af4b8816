interface TTSRequest {
  model: string;
  voice: string;
  text: string;
  stream?: boolean;
  format?: string;
  volume?: number;
  speech_rate?: number;
  pitch_rate?: number;
}

interface TTSResponse {
  audio_url: string;
  duration: number;
  format: string;
  characters: number;
  bill: string;
  record_id: number;
}

const synthesize = async (token: string, request: TTSRequest): Promise => {
  const response = await fetch('/api/audio/tts/synthesize', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Authorization': `Bearer ${token}`
    },
    body: JSON.stringify(request)
  });
  const data = await response.json();
  if (data.code !== 200) throw new Error(data.message);
  return data.data;
};

// 使用示例
const result = await synthesize(token, {
  model: 'cosyvoice-v3-flash',
  voice: 'longanyang',
  text: '你好,欢迎使用语音合成服务!'
});

// 播放音频(直接使用OSS URL)
const audio = new Audio(result.audio_url);
audio.play();
console.log('费用:', result.bill);
