interface LongTTSResponse {
  audio_url: string;
  duration: number;
  format: string;
  total_characters: number;
  segments: number;
  bill: string;
  record_id: number;
}

const synthesizeLongText = async (token: string, request: TTSRequest): Promise => {
  const response = await fetch('/api/audio/tts/synthesize-long', {
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

// 使用示例 - 合成长文本
const longText = `这是一段很长的文本...(超过2000字符)`;
const result = await synthesizeLongText(token, {
  model: 'cosyvoice-v3-flash',
  voice: 'longanyang',
  text: longText
});
console.log(`合成完成,共${result.segments}个片段,总时长${result.duration}秒,费用${result.bill}元`);
