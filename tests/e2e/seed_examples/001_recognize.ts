interface ASRResponse {
  text: string;
  language: string;
  emotion: string;
  duration: number;
  bill: string;
  record_id: number;
}

const recognizeAudio = async (token: string, file: File, model: string): Promise => {
  const formData = new FormData();
  formData.append('file', file);
  formData.append('model', model);
  const response = await fetch('/api/audio/asr/recognize', {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${token}` },
    body: formData
  });
  const data = await response.json();
  if (data.code !== 200) throw new Error(data.message);
  return data.data;
};

// 使用示例
const fileInput = document.querySelector('#audioFile');
const file = fileInput?.files?.[0];
if (file) {
  const result = await recognizeAudio(token, file, 'qwen3-asr-flash');
  console.log('识别结果:', result.text);
  console.log('费用:', result.bill);
}
