interface CreateVoiceRequest {
  target_model: string;
  prefix: string;
  audio_url?: string;
}

interface VoiceInfo {
  voice_id: string;
  status: 'DEPLOYING' | 'OK' | 'UNDEPLOYED';
  target_model: string;
  record_id: number;
}

const createVoice = async (token: string, file: File, prefix: string, targetModel: string): Promise => {
  const formData = new FormData();
  formData.append('file', file);
  formData.append('prefix', prefix);
  formData.append('target_model', targetModel);
  const response = await fetch('/api/audio/voice/create', {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${token}` },
    body: formData
  });
  const data = await response.json();
  if (data.code !== 200) throw new Error(data.message);
  return data.data;
};

// 轮询查询音色状态
const waitForVoiceReady = async (token: string, voiceId: string, maxAttempts = 30): Promise => {
  for (let i = 0; i < maxAttempts; i++) {
    const response = await fetch(`/api/audio/voice/${voiceId}`, {
      headers: { 'Authorization': `Bearer ${token}` }
    });
    const data = await response.json();
    if (data.data.status === 'OK') return data.data;
    if (data.data.status === 'UNDEPLOYED') throw new Error('音色审核未通过');
    await new Promise(resolve => setTimeout(resolve, 10000)); // 等待10秒
  }
  throw new Error('等待超时');
};
