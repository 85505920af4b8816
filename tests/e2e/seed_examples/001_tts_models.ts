interface TTSModel {
  model_id: string;
  model_name: string;
  description: string;
  price_per_10k_chars: string;
  features: string[];
}

const getTTSModels = async (token: string): Promise => {
  const response = await fetch('/api/audio/tts/models', {
    headers: { 'Authorization': `Bearer ${token}` }
  });
  const data = await response.json();
  if (data.code !== 200) throw new Error(data.message);
  return data.data;
};
