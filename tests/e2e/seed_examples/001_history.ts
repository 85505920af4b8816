interface AudioHistoryItem {
  id: number;
  type: 'tts' | 'asr' | 'voice';
  model_name: string;
  input_data: string;
  output_url?: string;
  output_text?: string;
  voice_id?: string;
  duration?: number;
  bill: string;
  created_at: string;
}

interface HistoryResponse {
  items: AudioHistoryItem[];
  total: number;
  page: number;
  page_size: number;
}

const getAudioHistory = async (
  token: string,
  page: number = 1,
  pageSize: number = 20,
  type?: string
): Promise => {
  const params = new URLSearchParams();
  params.append('page', page.toString());
  params.append('page_size', pageSize.toString());
  if (type) params.append('type', type);
  const response = await fetch(`/api/audio/history?${params}`, {
    headers: { 'Authorization': `Bearer ${token}` }
  });
  const data = await response.json();
  if (data.code !== 200) throw new Error(data.message);
  return data.data;
};

// 使用示例
const history = await getAudioHistory(token, 1, 10, 'tts');
console.log('历史记录:', history.items);
console.log('总数:', history.total);
